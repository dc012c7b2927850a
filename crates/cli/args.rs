//! The command-line interface, defined once: parsing, `--help`, completions and the man
//! page all come from these types.

use clap::{Args, Parser, Subcommand, ValueEnum};
use duo_journal::{Kind, Status};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Start with `duo init --name <your name>`, then `duo journal add \"...\"`.
Exit status: 0 success, 1 failure, 2 usage error, 3 the author asked for no replies,
4 duo is locked (run `duo unlock`), 5 no device answered `duo sync`, 11 a damaged file (a backup, a bundle, or this device's own: see `duo doctor`), 10-17 a backup
or bundle refused (see `duo bundle import --help`), 130 stopped with Ctrl-C.
Environment: DUO_HOME (data directory), DUO_DISCOVERY (mdns|none), DUO_RELAY (disabled|n0|URL),
DUO_RELAY_CA (PEM file), DUO_BIND (address to bind), NO_COLOR, VISUAL/EDITOR,
XDG_RUNTIME_DIR (editor temp files).";

/// duo: a private shared journal for two. Local-first, end-to-end encrypted, no server.
#[derive(Debug, Parser)]
#[command(name = "duo", version, about, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    /// Where this device keeps its data [default: $DUO_HOME, else the platform data
    /// directory]
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Print less on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up this device: its keys and your (empty) shared space
    Init(InitArgs),
    /// Write, read and manage journal entries
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Who you are here, where your data is, how many entries
    Status,
    /// Invite your partner (or, with --own-device, another device of yours) to pair
    Pair(PairArgs),
    /// Sync with every reachable device of the space, then exit (or --watch to stay online)
    Sync(SyncArgs),
    /// List every device of both partners, or revoke one
    Devices(DevicesArgs),
    /// Leave the shared space on this device, on your own: it stops syncing and stays
    /// readable as an archive (or --wipe removes everything duo keeps here)
    Leave(LeaveArgs),
    /// What here could expose you, in plain language, and how to get out (--guide: offline guidance)
    Safety(SafetyArgs),
    /// Keep this device reachable: run `duo sync --watch` in the background at login
    Service(ServiceArgs),
    /// Show or choose the relay for reaching devices on other networks (default: none)
    Relay(RelayArgs),
    /// A guided tour: two partners on this machine write, pair, sync, listen, answer a prompt
    /// and keep a boundary, command by command (nothing is kept)
    Demo(DemoArgs),
    /// Check every stored file; exit 11 if anything is damaged
    Doctor(DoctorArgs),
    /// Lock this device's keys with a passphrase (--set, --remove), or lock now
    Lock(LockArgs),
    /// Unlock this device for a while (asks the passphrase once per session)
    Unlock(UnlockArgs),
    /// Check a signed export (`duo journal export --format json --signed`), offline
    Verify(VerifyArgs),
    /// The unlock agent (started by `duo unlock`; reads the keys on stdin)
    #[command(hide = true)]
    Agent(AgentArgs),
    /// Both partners' boundaries, with when they were set and last revisited; mark yours
    /// for revisiting, keep or retire them
    Boundaries(BoundariesArgs),
    /// Say thank you in one line (adds an appreciation to the shared space)
    Thanks(ThanksArgs),
    /// Turn the gentle "I"-statement hints on or off on this device (shows the setting
    /// without an argument)
    Hints(HintsArgs),
    /// Write everything this device holds (shared space, private notebook, membership) and
    /// your person key to one encrypted file; never this device's own keys
    Backup(BackupArgs),
    /// Bring a backup back: a new device of the same person, with your person key (or, on
    /// one, merge it in)
    Restore(RestoreArgs),
    /// Sync without a network: carry changes to another device in an encrypted file
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// A question to reflect on or talk about, at the depth you both are comfortable with
    Prompt(PromptArgs),
    /// Pause a theme of prompts for both of you, or lift your pause
    Topics(TopicsArgs),
    /// One appreciation from your partner, resurfaced, and one prompt
    Today,
    /// A short plan for 20 minutes together this week; `--done` notes that it happened
    Checkin(CheckinArgs),
    /// Print shell completions
    Completions {
        /// The shell to generate completions for
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into DIR
    #[command(hide = true)]
    Man {
        /// Write duo.1, duo-init.1, duo-journal-add.1, … into this directory
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "\
Without --set or --remove: lock now (the unlock agent forgets the keys and exits).
Locked, every command that needs the keys fails with exit status 4 until `duo unlock`.
A running `duo sync --watch` (also the service's) goes offline, forgets the keys and waits
for `duo unlock`.")]
pub struct LockArgs {
    /// Protect the key files with a passphrase (asked twice on the terminal)
    #[arg(long, conflicts_with = "remove")]
    pub set: bool,
    /// Remove the passphrase: the key files become plain 0600 files again
    #[arg(long)]
    pub remove: bool,
    /// Read the passphrase from the first line of this file (for scripts and tests)
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Read the passphrase from the first line of this file (for scripts and tests)
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Lock again after this many seconds without a duo command
    #[arg(long, value_name = "SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle: u64,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signed export to check
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Exit after this many seconds without a request
    #[arg(long, default_value_t = 900)]
    pub idle: u64,
}

#[derive(Debug, Args)]
pub struct PairArgs {
    /// Add another device of your own instead of inviting your partner
    #[arg(long)]
    pub own_device: bool,
    /// Add a new device of your partner's: one they restored from a backup (`duo restore`)
    /// when none of their devices is left to pair it with
    #[arg(long, conflicts_with = "own_device")]
    pub partner_device: bool,
    /// Print an invite ticket to paste on the other device (needs no local discovery; from
    /// another network, both devices need a relay first: `duo relay set`)
    #[arg(long)]
    pub ticket: bool,
    /// With --ticket: do not draw the ticket as a QR code (drawn on stderr only when it is
    /// a terminal)
    #[arg(long, requires = "ticket")]
    pub no_qr: bool,
    /// Do not ask to confirm the verification words (for scripts and tests)
    #[arg(long, short)]
    pub yes: bool,
    #[command(subcommand)]
    pub join: Option<PairCommand>,
}

#[derive(Debug, Subcommand)]
pub enum PairCommand {
    /// Join the space of the device that ran `duo pair` (the code or ticket is read from the
    /// terminal or stdin, never from the command line)
    Join(JoinArgs),
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Read an invite ticket instead of a code
    #[arg(long)]
    pub ticket: bool,
    /// A code or ticket typed on the command line: refused, so that it stays out of shell
    /// history (it is typed at the prompt)
    #[arg(hide = true, value_name = "CODE")]
    pub on_command_line: Option<String>,
    /// Do not ask to confirm the verification words (for scripts and tests)
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Without a relay (the default) duo contacts nothing beyond the networks this device is on,
and reaches only devices it can reach directly. A relay forwards the devices' encrypted
traffic when they cannot: it sees which devices talk, from which addresses, when and how
much, never what. DUO_RELAY (disabled|n0|URL) and DUO_RELAY_CA (PEM file) override the
setting for one run.")]
pub struct RelayArgs {
    #[command(subcommand)]
    pub command: Option<RelayCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RelayCommand {
    /// Show the relay in use and where the setting comes from (the default)
    Show,
    /// Choose the relay: `disabled`, `n0` (n0's public relays) or the URL of your own
    /// iroh-relay, like https://relay.example.org
    Set(RelaySetArgs),
}

#[derive(Debug, Args)]
pub struct RelaySetArgs {
    /// disabled, n0, or an iroh-relay URL (https://host[:port])
    #[arg(value_name = "RELAY")]
    pub relay: String,
    /// A PEM file with the certificate to trust for a self-hosted relay (one with a
    /// self-signed certificate)
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Stay online: answer peers and push new entries as they are written (Ctrl-C stops)
    #[arg(long)]
    pub watch: bool,
    /// With --watch: run as the background service (`duo service install`): quiet, and
    /// while duo is locked it waits, holding no key, until `duo unlock`
    #[arg(long, requires = "watch")]
    pub service: bool,
    /// When no device answers, stay reachable this long for one to come online (e.g. your
    /// partner typing `duo sync` too): `30s`, `2m`, `0` not to wait [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_wait, conflicts_with = "watch")]
    pub wait: Option<std::time::Duration>,
}

/// `--wait`: a number with `s`, `m` or `h` (a bare number is seconds), at most an hour.
fn parse_wait(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (n, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30s, 2m or 1h"))?;
    let secs = match unit.trim() {
        "s" | "sec" | "secs" => n,
        "m" | "min" | "mins" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("'{s}' is not a duration like 30s, 2m or 1h")),
    };
    if secs > 3600 {
        return Err("--wait is at most 1h; for longer, `duo sync --watch` keeps this device reachable".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Do not pause between steps (for scripts; it never pauses without a terminal)
    #[arg(long)]
    pub fast: bool,
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Run `duo sync --watch` at login, as you, restarting it if it stops (a systemd user
    /// unit on Linux, a launchd agent on macOS)
    Install,
    /// Stop running it at login and remove the service file
    Uninstall,
    /// Whether the service is installed and enabled, and whether this device is reachable now
    Status,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Move damaged and foreign files aside (to <home>/quarantine) and rebuild the journal
    /// from everything that still reads. Entries only in those files are lost on this device.
    #[arg(long)]
    pub repair: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Your name, as your partner will see it
    #[arg(long)]
    pub name: String,
    /// A label for this device [default: the host name]
    #[arg(long)]
    pub label: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Write a new entry (text as argument, from stdin, or in $VISUAL/$EDITOR)
    Add(AddArgs),
    /// List entries, newest first
    List(ListArgs),
    /// Search the decrypted journal on this device
    Search(SearchArgs),
    /// Show one entry in full
    Show(IdArg),
    /// Change an entry's text, tags or status; resolve concurrent versions
    Edit(EditArgs),
    /// Delete an entry (its earlier text stays in the history)
    Delete(DeleteArgs),
    /// Bring back an entry of yours that was deleted on one device while another device
    /// edited it (listed by `duo journal list`)
    Restore(IdArg),
    /// Import a Day One JSON export or duo's own --json output
    Import(ImportArgs),
    /// Write entries as plaintext Markdown or JSON (the only way plaintext leaves the store)
    Export(ExportArgs),
    /// Acknowledge your partner's entry: heard, thanks or lets-talk (only what you choose
    /// to send; there are no read receipts)
    Ack(AckArgs),
    /// Reflect your partner's entry back in your own words ("What I heard is …")
    Reflect(ReflectArgs),
    /// Confirm that a reflection on your entry got it right
    Confirm(ConfirmArgs),
    /// Gently correct a reflection on your entry
    Correct(CorrectArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AckKindArg {
    /// "I heard you"
    Heard,
    /// "Thank you for sharing this"
    Thanks,
    /// "I'd like to talk about this"
    LetsTalk,
}

impl From<AckKindArg> for duo_journal::ReplyKind {
    fn from(k: AckKindArg) -> Self {
        match k {
            AckKindArg::Heard => duo_journal::ReplyKind::Heard,
            AckKindArg::Thanks => duo_journal::ReplyKind::Thanks,
            AckKindArg::LetsTalk => duo_journal::ReplyKind::LetsTalk,
        }
    }
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// The entry's id or a unique prefix of it
    pub id: String,
    /// What to send
    #[arg(value_enum)]
    pub kind: AckKindArg,
}

#[derive(Debug, Args)]
pub struct ReflectArgs {
    /// The entry's id or a unique prefix of it
    pub id: String,
    /// What you heard. Without it, duo reads stdin, or opens your editor on a terminal.
    pub text: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// Your entry's id or a unique prefix of it
    pub id: String,
    /// Which reflection (its id or a prefix, as `show` prints it) [default: the newest]
    #[arg(long, value_name = "ID")]
    pub reflection: Option<String>,
}

#[derive(Debug, Args)]
pub struct CorrectArgs {
    /// Your entry's id or a unique prefix of it
    pub id: String,
    /// What you meant. Without it, duo reads stdin, or opens your editor on a terminal.
    pub text: Option<String>,
    /// Which reflection (its id or a prefix, as `show` prints it) [default: the newest]
    #[arg(long, value_name = "ID")]
    pub reflection: Option<String>,
}

#[derive(Debug, Args)]
pub struct BoundariesArgs {
    /// Also show retired boundaries, and every boundary's history
    #[arg(long)]
    pub all: bool,
    #[command(subcommand)]
    pub command: Option<BoundariesCommand>,
}

#[derive(Debug, Subcommand)]
pub enum BoundariesCommand {
    /// Mark your boundary as one to talk about again
    Revisit(IdArg),
    /// Keep your boundary as it is, now that you have revisited it (it becomes active)
    Keep(IdArg),
    /// Retire your boundary: no longer in force, kept with its history
    Retire(IdArg),
}

#[derive(Debug, Args)]
pub struct ThanksArgs {
    /// What you are thankful for. Without it, duo reads stdin, or opens your editor.
    pub text: Option<String>,
    /// A tag (repeat for more)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Args)]
pub struct HintsArgs {
    /// `on` or `off`
    #[arg(value_enum)]
    pub state: Option<OnOff>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Reflection,
    Boundary,
    Appreciation,
}

impl From<KindArg> for Kind {
    fn from(k: KindArg) -> Kind {
        match k {
            KindArg::Reflection => Kind::Reflection,
            KindArg::Boundary => Kind::Boundary,
            KindArg::Appreciation => Kind::Appreciation,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Active,
    Revisit,
    Retired,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Status {
        match s {
            StatusArg::Active => Status::Active,
            StatusArg::Revisit => Status::Revisit,
            StatusArg::Retired => Status::Retired,
        }
    }
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The text. Without it, duo reads stdin, or opens your editor on a terminal.
    /// Note: text given here lands in your shell history.
    pub text: Option<String>,
    /// What kind of entry
    #[arg(long, value_enum, default_value = "reflection")]
    pub kind: KindArg,
    /// A tag (repeat for more)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Keep it in your private notebook: never shared, never synced
    #[arg(long)]
    pub private: bool,
    /// No replies, please — just hold this: your partner cannot acknowledge or reflect it
    #[arg(long)]
    pub no_replies: bool,
}

/// Which notebooks to read.
#[derive(Debug, Args, Clone, Copy)]
pub struct Scope {
    /// Only your private notebook
    #[arg(long, conflicts_with = "all")]
    pub private: bool,
    /// Both the shared space and your private notebook
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only entries of this kind (repeat for more)
    #[arg(long, value_enum)]
    pub kind: Vec<KindArg>,
    /// Only entries with this tag (repeat: all must match)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only entries written on or after this date (YYYY-MM-DD, local time, or RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only entries written before this date (YYYY-MM-DD, local time, or RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Show at most N entries
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub scope: Scope,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Text to look for (case-insensitive) in bodies and tags
    pub query: String,
    #[command(flatten)]
    pub scope: Scope,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// The entry's id or a unique prefix of it (at least 4 characters)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// The entry's id or a unique prefix of it
    pub id: String,
    /// The new text. Without it (and without other changes) duo opens your editor.
    pub text: Option<String>,
    /// A boundary's new status
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Replace the tags (repeat for more)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Remove all tags
    #[arg(long, conflicts_with = "tags")]
    pub clear_tags: bool,
    /// Keep version N of a body edited on two devices at once (as numbered by `show`)
    #[arg(long, value_name = "N", conflicts_with = "text")]
    pub keep: Option<usize>,
    /// Ask for no replies on this entry ("just hold this")
    #[arg(long, conflicts_with = "allow_replies")]
    pub no_replies: bool,
    /// Lift "no replies": your partner may acknowledge and reflect it again
    #[arg(long)]
    pub allow_replies: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The entry's id or a unique prefix of it
    pub id: String,
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import (`-` for stdin)
    pub file: PathBuf,
    /// Put the imported entries in your private notebook
    #[arg(long)]
    pub private: bool,
    /// Import entries that a duo export says another person wrote, as your own (for your
    /// own words from an earlier setup of duo)
    #[arg(long)]
    pub as_mine: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format
    #[arg(long, value_enum, default_value = "md")]
    pub format: ExportFormat,
    /// Write to this file (created with mode 0600) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only your own entries that your devices confirm as yours, signed with this device's
    /// key so that `duo verify` can check them (needs --format json)
    #[arg(long)]
    pub signed: bool,
    #[command(flatten)]
    pub scope: Scope,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Every device of both of you is listed, with when it was added. \"Last synced\" is shown
for your own devices only: duo never tells you when your partner was online.")]
pub struct DevicesArgs {
    #[command(subcommand)]
    pub command: Option<DevicesCommand>,
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Revoke a device: one of yours for the whole space (it spreads with the next sync), or
    /// one of your partner's on this device only
    Revoke(RevokeArgs),
    /// Vouch for another of your own devices from this one, so that it stays if the device
    /// that added it is revoked (or comes back after being revoked with it)
    Endorse(EndorseArgs),
    /// Stop showing the notices about devices added to or revoked from the space on this
    /// device (noted here only, never synced: nobody learns you read them)
    Ack,
}

#[derive(Debug, Args)]
pub struct EndorseArgs {
    /// The device id (or a unique prefix of 4+ characters, as `duo devices` shows it)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The device id (or a unique prefix of 4+ characters, as `duo devices` shows it)
    pub id: String,
    /// Do not ask for confirmation (for scripts)
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
A backup holds your person key (the key that marks your entries as yours): whoever opens it can
read everything in it and write entries your devices take as yours. It holds no key of this
device (its age and network keys), so it cannot pose as this device.
The passphrase is asked twice on the terminal (hidden), or read from --passphrase-file; never
from the command line. It must be at least 8 characters, and it is slowed down by scrypt as
much as `duo lock --set` (at least 2^18, 256 MiB per guess). Restoring needs it (or, with
--recipient, an identity): keep it apart from the backup.
Exit status: 2 a passphrase shorter than 8 characters, 10 the passphrase or identity does not
open it, 11 damaged.")]
pub struct BackupArgs {
    /// The backup file to write (mode 0600; replaced whole if it exists)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Read the passphrase from the first line of this file instead of the terminal
    #[arg(long, value_name = "FILE", conflicts_with_all = ["recipient", "recipients_file"])]
    pub passphrase_file: Option<PathBuf>,
    /// Encrypt to this age recipient (age1…) instead of a passphrase; repeat for more
    #[arg(long, value_name = "AGE1…")]
    pub recipient: Vec<String>,
    /// Encrypt to the age recipients listed in this file (one per line, # comments)
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
On a home that is not set up, restore creates a NEW device of the backed-up person (new device
keys, the backup's person key) with the journal readable at once; pair it with one of your surviving devices (`duo pair
--own-device` there, `duo pair join` here) or, if none survives, with your partner's (`duo
pair --partner-device` there), to sync.
On a device of the same person it merges the backup in; nothing newer is overwritten.
Exit status: 10 wrong passphrase or identity, 11 damaged, 13 another space or person.")]
pub struct RestoreArgs {
    /// The backup file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Read the passphrase from the first line of this file instead of the terminal
    #[arg(long, value_name = "FILE", conflicts_with = "identity")]
    pub passphrase_file: Option<PathBuf>,
    /// An age identity file that opens a backup made with --recipient; repeat for more
    #[arg(short = 'i', long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
    /// A label for the new device [default: the host name]
    #[arg(long)]
    pub label: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write the changes another device of the space lacks to an encrypted, signed file
    Export(BundleExportArgs),
    /// Check a bundle (who made it, for which space) and merge it into the shared space
    Import(BundleImportArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Leaving needs nobody's consent and sends nothing: your partner's devices see this device
as they see it offline. What they already received stays with them (see docs/safety.md).")]
pub struct LeaveArgs {
    /// Remove the shared space, your private notebook, keys and caches from this device
    #[arg(long)]
    pub wipe: bool,
    /// First write a plaintext export of both notebooks into this directory
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
    /// Do not ask for confirmation (for scripts)
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct SafetyArgs {
    /// Print offline guidance for leaving safely, instead of this device's check
    #[arg(long)]
    pub guide: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
A bundle holds only the shared space (never private notes), is encrypted to every other
current device of the space and signed by this one. Carry it on a USB stick, a shared folder
or an email; the other device runs `duo bundle import FILE`.")]
pub struct BundleExportArgs {
    /// The bundle file to write (mode 0600)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Everything the space holds, not only what the other device lacks
    #[arg(long)]
    pub all: bool,
    /// The device it is for (an id or a unique prefix, see `duo devices`) [default: your
    /// partner's devices]
    #[arg(long = "for", value_name = "DEVICE", conflicts_with = "all")]
    pub for_device: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Exit status: 10 not encrypted for this device, 11 damaged or changed, 12 forged signature,
13 another space, 14 a device not in this space, 15 a revoked device, 16 it builds on changes
this device does not have yet, 17 made on this device or by a newer duo.")]
pub struct BundleImportArgs {
    /// The bundle file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DepthArg {
    Light,
    Medium,
    Deep,
}

impl From<DepthArg> for duo_journal::prompts::Depth {
    fn from(d: DepthArg) -> Self {
        match d {
            DepthArg::Light => Self::Light,
            DepthArg::Medium => Self::Medium,
            DepthArg::Deep => Self::Deep,
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
duo never offers a prompt deeper than the lower of your two comfort depths: going deeper
needs both of you to raise yours; lowering yours takes effect at once. Your partner only
ever sees the shared level, never your own setting. Passing is always fine.")]
pub struct PromptArgs {
    /// Set your comfort depth (light, medium or deep)
    #[arg(long, value_enum, value_name = "DEPTH", conflicts_with_all = ["answer", "pass", "together"])]
    pub set_depth: Option<DepthArg>,
    /// Answer prompt ID (text as argument, from stdin, or in $VISUAL/$EDITOR); the answer
    /// is a reflection linked to the prompt
    #[arg(long, value_name = "ID", conflicts_with_all = ["pass", "together"])]
    pub answer: Option<String>,
    /// With --answer: the text. Note: text given here lands in your shell history.
    #[arg(requires = "answer", value_name = "TEXT")]
    pub text: Option<String>,
    /// Not now: skip prompt ID (noted on this device only, never shown to your partner)
    #[arg(long, value_name = "ID", conflicts_with = "together")]
    pub pass: Option<String>,
    /// Ask a prompt of both of you: each answer stays on the answering device until both
    /// of you have answered, then both are shared
    #[arg(long)]
    pub together: bool,
}

#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(subcommand)]
    pub command: Option<TopicsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Show every theme: open, paused by you, or paused for now (the default)
    List,
    /// Skip prompts on THEME for both of you until you lift the pause (no reason asked)
    Pause(ThemeArg),
    /// Lift your pause of THEME
    Resume(ThemeArg),
}

#[derive(Debug, Args)]
pub struct ThemeArg {
    /// communication, appreciation, boundaries, vulnerability, quality-time, past or future
    pub theme: String,
}

#[derive(Debug, Args)]
pub struct CheckinArgs {
    /// Note that your check-in happened (for both of you; no streaks, no counts)
    #[arg(long)]
    pub done: bool,
}
