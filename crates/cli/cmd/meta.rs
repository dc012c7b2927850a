//! Commands about duo itself: completions, the man page, and what to do with no command.

use crate::args::Cli;
use crate::ctx::home_dir;
use crate::error::Result;
use crate::exit;
use crate::output::Printer;
use clap::CommandFactory;

pub fn completions(shell: clap_complete::Shell) -> Result<i32> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "duo", &mut out);
    Printer::new(false, false).data(&String::from_utf8_lossy(&out));
    Ok(exit::OK)
}

pub fn man(dir: Option<&std::path::Path>) -> Result<i32> {
    let pages = crate::man::pages();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
        for (name, text) in &pages {
            std::fs::write(dir.join(name), text)?;
        }
        return Ok(exit::OK);
    }
    Printer::new(false, false).data(&pages[0].1);
    Ok(exit::OK)
}

pub fn no_command(cli: &Cli, p: &Printer) -> Result<i32> {
    let home = home_dir(cli)?;
    let dev = duo_device::Home::new(&home);
    if dev.is_initialized() {
        if duo_device::lock::is_locked(&dev) && !duo_device::lock::is_unlocked_now(&dev) {
            p.info("duo is set up here and locked: run `duo unlock` (it asks your passphrase), then `duo journal list` or `duo --help`.");
            return Ok(exit::LOCKED);
        }
        p.info("duo is set up here. Try `duo journal add \"...\"`, `duo journal list` or `duo --help`.");
        Ok(exit::OK)
    } else {
        p.info(format!(
            "duo is not set up on this device yet (data directory: {}).\n\nStart with:\n    duo init --name <your name>\n\nThen write your first entry:\n    duo journal add \"Something I appreciated today\" --kind appreciation\n\nMore: duo --help",
            home.display()
        ));
        Ok(exit::USAGE)
    }
}
