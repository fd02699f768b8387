//! The `peregrine` binary.

use clap::Parser;
use peregrine_ops::{
    cli::{Cli, Command},
    run,
};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Command::Dev(args) = cli.command;
    run::init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("peregrine-rpc")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::dev(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
