//! The `peregrine` binary.

use clap::Parser;
use peregrine_ops::{
    cli::{Cli, Command, PreconfCommand},
    run,
    verify::{self, VerifyCmdError},
};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Dev(args) => args,
        Command::Preconf(PreconfCommand::Verify(args)) => {
            return match verify::verify(&args) {
                Ok(report) => {
                    print!("{report}");
                    std::process::ExitCode::SUCCESS
                }
                Err(e @ VerifyCmdError::Invalid(_)) => {
                    eprintln!("{e}");
                    std::process::ExitCode::from(1)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::from(2)
                }
            };
        }
    };
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
