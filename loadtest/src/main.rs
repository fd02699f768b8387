//! The `peregrine-loadtest` binary: parses the command line and runs a load test or a
//! comparison. Exit status: 0 when the run completed (its errors are in the report), 1 when
//! it could not run, 2 for bad flags.

use clap::Parser;
use peregrine_loadtest::{
    LoadError,
    cli::{Cli, Command},
};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(4),
        )
        .thread_name("loadtest-io")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peregrine-loadtest: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Some(Command::Compare(args)) => peregrine_loadtest::compare(&args.to_config())
                .await
                .map(|_| ()),
            None => {
                let cfg = cli.run.to_config()?;
                peregrine_loadtest::run(&cfg).await.map(|_| ())
            }
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ (LoadError::Config(_) | LoadError::RemoteTarget { .. })) => {
            eprintln!("peregrine-loadtest: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("peregrine-loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}
