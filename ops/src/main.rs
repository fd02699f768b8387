//! The `peregrine` binary.

use clap::Parser;
use peregrine_ops::{
    cli::{Cli, Command, ConfigCommand, PreconfCommand, ProveCommand, WalCommand},
    config::PeregrineConfig,
    prove, run,
    verify::{self, VerifyCmdError},
};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Dev(args) => *args,
        Command::Replica(args) => {
            return match peregrine_ops::replica::resolve(&args).and_then(start_logging) {
                Ok(cfg) => block_on(cfg.rpc.worker_threads, peregrine_ops::replica::replica(cfg)),
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Command::Watch(args) => {
            run::init_logging(peregrine_ops::cli::LogFormat::Human, "info");
            return match peregrine_ops::watch::watch(&args) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Command::Derive(args) => {
            run::init_logging(peregrine_ops::cli::LogFormat::Human, "info");
            return match peregrine_ops::derive::derive(&args) {
                Ok(summary) => {
                    println!("{summary}");
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Command::Config(ConfigCommand::Default) => {
            print!("{}", PeregrineConfig::default_toml());
            return std::process::ExitCode::SUCCESS;
        }
        Command::Wal(WalCommand::Cut(args)) => {
            return match peregrine_sequencer::wal::cut(&args.segment, args.offset) {
                Ok(report) => {
                    let blocks = report
                        .blocks
                        .map_or("none".into(), |(lo, hi)| format!("{lo}..={hi}"));
                    println!(
                        "cut {} at byte {}: removed {} bytes holding {} valid records (L2 blocks {blocks}); deleted {} later segment(s)",
                        args.segment.display(),
                        args.offset,
                        report.bytes,
                        report.records,
                        report.later_segments.len()
                    );
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::from(2)
                }
            };
        }
        Command::Preconf(PreconfCommand::Prove(cmd)) => {
            let result = match &cmd {
                ProveCommand::Equivocation(args) => prove::equivocation(args),
                ProveCommand::Mismatch(args) => prove::mismatch(args),
            };
            return match result {
                Ok(report) => {
                    println!("{report:#}");
                    std::process::ExitCode::SUCCESS
                }
                Err(e @ prove::ProveError::NoFault(_)) => {
                    eprintln!("{e}");
                    std::process::ExitCode::from(1)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::from(2)
                }
            };
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
    match run::resolve(&args).and_then(start_logging) {
        Ok(cfg) => block_on(cfg.rpc.worker_threads, run::dev(cfg)),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Sets up logging as `cfg` says, and hands it back.
fn start_logging(cfg: PeregrineConfig) -> Result<PeregrineConfig, run::RunError> {
    let format = run::log_format(&cfg)?;
    run::init_logging(format, &cfg.log.level);
    Ok(cfg)
}

/// Runs `node` on a multi-threaded runtime of `workers` threads (`rpc.worker-threads`) and
/// turns its outcome into the exit code.
fn block_on(
    workers: usize,
    node: impl std::future::Future<Output = Result<(), run::RunError>>,
) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
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
    let result = runtime.block_on(node);
    // A failed node's threads may still be stopping: do not wait for them forever.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Logged where it was found.
        Err(run::RunError::Failed(_)) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
