//! The `peregrine` binary.

use clap::Parser;
use peregrine_ops::{
    cli::{Cli, Command, ConfigCommand, PreconfCommand},
    config::PeregrineConfig,
    run,
    verify::{self, VerifyCmdError},
};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Dev(args) => *args,
        Command::Config(ConfigCommand::Default) => {
            print!("{}", PeregrineConfig::default_toml());
            return std::process::ExitCode::SUCCESS;
        }
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
    let cfg = match run::resolve(&args).and_then(|cfg| run::log_format(&cfg).map(|f| (cfg, f))) {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let (cfg, format) = cfg;
    run::init_logging(format, &cfg.log.level);
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
    match runtime.block_on(run::dev(cfg)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
