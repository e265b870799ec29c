use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = fsnotify_gadget::cli::parse();
    let result = match &cli.command {
        Some(fsnotify_gadget::cli::Command::List(args)) => fsnotify_gadget::list::run(args),
        Some(fsnotify_gadget::cli::Command::Serve(args)) => fsnotify_gadget::metrics::serve(args),
        None => fsnotify_gadget::trace::run(&cli.trace),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fsnotify-gadget: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
