//! The `duo` command. Each command lives in `cmd/`; the logic lives in the libraries.

mod args;
mod cmd;
mod ctx;
mod editor;
mod env;
mod error;
mod exit;
mod man;
mod output;
mod qr;

use clap::Parser;
use error::CliError;

/// mimalloc instead of the system allocator: reading a large journal makes and frees
/// millions of small strings, and glibc's free lists were a quarter of a read's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = args::Cli::parse();
    let code = match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            e.code
        }
    };
    std::process::exit(code);
}

/// An error on stderr; like everything printed, through `output::safe` (messages may quote
/// what another device sent).
fn report(e: &CliError) {
    output::stderr(&format!("error: {}", e.message));
    for c in &e.causes {
        output::stderr(&format!("  caused by: {c}"));
    }
    if let Some(h) = &e.hint {
        output::stderr(&format!("hint: {h}"));
    }
}
