use std::process::ExitCode;

use fsnotify_gadget::cli::{self, Command};

/// Whether an error is the reader closing our stdout (`| head -1`): the
/// output it wanted was written, so the run ends quietly and successfully.
fn reader_went_away(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

fn main() -> ExitCode {
    let cli = cli::parse();
    let result = match &cli.command {
        Some(Command::List(args)) => fsnotify_gadget::list::run(&args.options()),
        Some(Command::Top(args)) => fsnotify_gadget::top::run(&args.options()),
        Some(Command::Serve(args)) => fsnotify_gadget::metrics::serve(&args.options()),
        Some(Command::Docs(args)) => cli::docs::write(&args.dir).map(|written| {
            for path in written {
                println!("{}", path.display());
            }
        }),
        None => fsnotify_gadget::trace::run(&cli.trace.options()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if reader_went_away(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fsnotify-gadget: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
