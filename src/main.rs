use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = fsnotify_gadget::cli::parse();
    match fsnotify_gadget::trace::run(&cli.trace) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fsnotify-gadget: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
