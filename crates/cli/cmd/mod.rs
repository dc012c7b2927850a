//! One file per command. A command parses nothing (clap did), calls the libraries and prints.

mod backup;
mod boundaries;
mod bundle;
mod checkin;
mod demo;
pub mod devices;
mod doctor;
mod export;
mod hints;
mod import;
mod init;
pub mod leave;
mod lock;
mod meta;
mod online;
mod pair;
pub mod prompt;
mod read;
pub mod relay;
mod replies;
mod safety;
mod service;
mod status;
mod sync;
mod thanks;
mod today;
mod topics;
mod verify;
mod watch;
pub mod write;

use crate::args::{self, BundleCommand, Cli, Command, JournalCommand};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::output::Printer;

/// Run the command; the exit status on success (`doctor` and damaged reads return 1).
pub fn run(cli: Cli) -> Result<i32> {
    let printer = Printer::new(cli.json, cli.quiet);
    let Some(command) = &cli.command else {
        return meta::no_command(&cli, &printer);
    };
    match command {
        Command::Init(a) => init::run(&cli, printer, a),
        Command::Completions { shell } => meta::completions(*shell),
        Command::Man { dir } => meta::man(dir.as_deref()),
        Command::Status => status::run(&prompt::settled(Ctx::open(&cli, printer)?)),
        Command::Pair(a) => {
            if let Some(args::PairCommand::Join(j)) = &a.join
                && j.on_command_line.is_some()
            {
                let which = if j.ticket { "ticket" } else { "code" };
                return Err(CliError::usage(format!(
                    "the {which} is typed at the prompt, not on the command line, so that it stays out of your shell history"
                ))
                .hint(format!(
                    "run `duo pair join{}` and type or paste the {which} when it asks",
                    if j.ticket { " --ticket" } else { "" }
                )));
            }
            pair::pair(Ctx::open(&cli, printer)?, a)
        }
        Command::Sync(a) => {
            let printer = if a.service {
                // As a service: quiet (only errors reach the system journal), and while
                // locked, wait holding no key.
                service::wait_until_unlocked(&cli)?;
                Printer::new(cli.json, true)
            } else {
                printer
            };
            loop {
                let ctx = Ctx::open(&cli, printer.clone())?;
                match sync::watch_or_sync(&ctx, a)? {
                    watch::Watched::Exit(code) => {
                        prompt::settle(&ctx);
                        return Ok(code);
                    }
                    // `duo lock`: the keys go with `ctx`; back once unlocked.
                    watch::Watched::Locked => {
                        drop(ctx);
                        service::wait_until_unlocked(&cli)?;
                    }
                }
            }
        }
        Command::Prompt(a) => prompt::run(&prompt::settled(Ctx::open(&cli, printer)?), a),
        Command::Topics(a) => topics::run(&prompt::settled(Ctx::open(&cli, printer)?), a),
        Command::Today => today::run(&prompt::settled(Ctx::open(&cli, printer)?)),
        Command::Checkin(a) => checkin::run(&prompt::settled(Ctx::open(&cli, printer)?), a),
        Command::Demo(a) => demo::run(&printer, a),
        Command::Devices(a) => devices::run(&Ctx::open(&cli, printer)?, a),
        Command::Leave(a) => leave::run(&cli, Ctx::open(&cli, printer)?, a),
        Command::Safety(a) => safety::run(&cli, printer, a),
        Command::Service(a) => service::run(&cli, &printer, a),
        Command::Relay(a) => relay::run(&Ctx::open(&cli, printer)?, a),
        Command::Doctor(a) => doctor::run(&cli, printer, a),
        Command::Lock(a) => lock::lock(&cli, &printer, a),
        Command::Unlock(a) => lock::unlock(&cli, &printer, a),
        Command::Agent(a) => lock::agent(&cli, a),
        Command::Verify(a) => verify::run(&cli, printer, a),
        Command::Boundaries(a) => boundaries::run(&Ctx::open(&cli, printer)?, a),
        Command::Thanks(a) => thanks::run(&Ctx::open(&cli, printer)?, a),
        Command::Hints(a) => hints::hints(&Ctx::open(&cli, printer)?, a),
        Command::Backup(a) => backup::backup(&Ctx::open(&cli, printer)?, a),
        Command::Restore(a) => backup::restore(&cli, &printer, a),
        Command::Bundle(BundleCommand::Export(a)) => bundle::export(&Ctx::open(&cli, printer)?, a),
        Command::Bundle(BundleCommand::Import(a)) => bundle::import(&Ctx::open(&cli, printer)?, a),
        Command::Journal(j) => {
            let ctx = prompt::settled(Ctx::open(&cli, printer)?);
            match j {
                JournalCommand::Add(a) => write::add(&ctx, a),
                JournalCommand::List(a) => read::list(&ctx, a),
                JournalCommand::Search(a) => read::search(&ctx, a),
                JournalCommand::Show(a) => read::show(&ctx, &a.id),
                JournalCommand::Edit(a) => write::edit(&ctx, a),
                JournalCommand::Delete(a) => write::delete(&ctx, a),
                JournalCommand::Restore(a) => write::restore(&ctx, &a.id),
                JournalCommand::Import(a) => import::run(&ctx, a),
                JournalCommand::Export(a) => export::run(&ctx, a),
                JournalCommand::Ack(a) => replies::ack(&ctx, a),
                JournalCommand::Reflect(a) => replies::reflect(&ctx, a),
                JournalCommand::Confirm(a) => replies::confirm(&ctx, a),
                JournalCommand::Correct(a) => replies::correct(&ctx, a),
            }
        }
    }
}
