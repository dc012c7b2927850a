//! `duo relay [show]`, `duo relay set`: the relay for reaching devices on other networks,
//! and the one place that decides which relay a run uses (`DUO_RELAY` and `DUO_RELAY_CA`
//! over `config.json`, default none).

use crate::args::{RelayArgs, RelayCommand, RelaySetArgs};
use crate::ctx::Ctx;
use crate::env;
use crate::error::{CliError, Result};
use crate::exit;
use duo_device::Opened;
use duo_device::relay::{Relay, Relays, read_ca_file};
use std::path::PathBuf;

const VALUES: &str =
    "use disabled, n0 (n0's public relays) or the URL of an iroh-relay, like https://relay.example.org";

/// Where a setting comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    Config,
    Env,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::Config => "config",
            Source::Env => "environment",
        }
    }
}

/// The relay a run uses, and where that came from.
pub struct Choice {
    pub relay: Relay,
    pub source: Source,
    pub ca: Option<(PathBuf, Source)>,
}

/// `DUO_RELAY`, else `config.json`'s `relay`, else disabled; the same for the certificate.
pub fn choice(dev: &Opened) -> Result<Choice> {
    let (relay, source) = if let Some(v) = env::var(env::RELAY) {
        let relay = v
            .parse::<Relay>()
            .map_err(|e| CliError::usage(format!("DUO_RELAY: {e}")).hint(format!("{VALUES}; or unset DUO_RELAY")))?;
        (relay, Source::Env)
    } else if let Some(v) = &dev.config.relay {
        let relay = v.parse::<Relay>().map_err(|e| {
            CliError::new(format!("{}: relay {e}", dev.home.config_path().display()))
                .hint("choose again with `duo relay set disabled|n0|URL`")
        })?;
        (relay, Source::Config)
    } else {
        (Relay::Disabled, Source::Default)
    };
    let ca = match (env::var(env::RELAY_CA), &dev.config.relay_ca) {
        (Some(p), _) => Some((PathBuf::from(p), Source::Env)),
        (None, Some(p)) => Some((p.clone(), Source::Config)),
        (None, None) => None,
    };
    Ok(Choice { relay, source, ca })
}

/// The relays this run may use, with the certificate file read (only when a relay is on).
pub fn relays(dev: &Opened) -> Result<Relays> {
    let c = choice(dev)?;
    let mut relays = Relays::new(c.relay);
    if relays.relay.is_enabled()
        && let Some((path, source)) = c.ca
    {
        let roots = read_ca_file(&path).map_err(|e| {
            let err = CliError::new(format!("cannot use the relay certificate {e}"));
            match source {
                Source::Env => CliError {
                    code: exit::USAGE,
                    ..err
                }
                .hint("DUO_RELAY_CA names a PEM file with the relay's certificate; fix it or unset it"),
                _ => err.hint("give the file again with `duo relay set URL --ca FILE`, or set the relay without --ca"),
            }
        })?;
        relays = relays.trusting(roots);
    }
    Ok(relays)
}

pub fn run(ctx: &Ctx, a: &RelayArgs) -> Result<i32> {
    match &a.command {
        None | Some(RelayCommand::Show) => show(ctx),
        Some(RelayCommand::Set(s)) => set(ctx, s),
    }
}

fn describe(relay: &Relay) -> String {
    match relay {
        Relay::Disabled => "disabled: duo reaches only devices it can reach directly (the same network, a VPN)".into(),
        Relay::N0 => "n0 (n0's public relays)".into(),
        Relay::Url(url) => format!("{url} (an iroh-relay)"),
    }
}

fn show(ctx: &Ctx) -> Result<i32> {
    let c = choice(&ctx.dev)?;
    let p = &ctx.printer;
    if p.json {
        p.json_value(&serde_json::json!({
            "relay": c.relay.to_string(),
            "source": c.source.name(),
            "ca": c.ca.as_ref().map(|(path, _)| path),
            "ca_source": c.ca.as_ref().map(|(_, s)| s.name()),
        }));
        return Ok(exit::OK);
    }
    let from = match c.source {
        Source::Default => "the default",
        Source::Config => "set with `duo relay set`",
        Source::Env => "from DUO_RELAY",
    };
    let mut text = format!("Relay        {}\n             ({from})\n", describe(&c.relay));
    if let Some((path, source)) = &c.ca {
        let from = if *source == Source::Env {
            " (from DUO_RELAY_CA)"
        } else {
            ""
        };
        text.push_str(&format!("Certificate  {}{from}\n", path.display()));
    }
    p.data(&text);
    if c.relay == Relay::Disabled {
        p.info("For devices on different networks: `duo relay set https://your-relay.example.org` (your own iroh-relay) or `duo relay set n0`.");
    }
    Ok(exit::OK)
}

fn set(ctx: &Ctx, a: &RelaySetArgs) -> Result<i32> {
    let relay: Relay = a.relay.parse().map_err(|e| CliError::usage(e).hint(VALUES))?;
    let ca = match (&a.ca, &relay) {
        (None, _) => None,
        (Some(_), Relay::Disabled | Relay::N0) => {
            return Err(CliError::usage("--ca is for a self-hosted relay given by its URL")
                .hint("`duo relay set https://your-relay.example.org --ca relay.pem`"));
        }
        (Some(path), Relay::Url(_)) => {
            read_ca_file(path).map_err(|e| CliError::usage(format!("cannot use --ca {e}")))?;
            Some(std::path::absolute(path)?)
        }
    };
    let stored = (relay != Relay::Disabled).then(|| relay.to_string());
    ctx.dev.home.set_relay(stored, ca)?;
    let p = &ctx.printer;
    match &relay {
        Relay::Disabled => p.info("Relays are off: duo reaches only devices it can reach directly."),
        other => {
            p.info(format!(
                "Relay: {}. duo connects to it whenever it goes online (pair, pair join, sync), and tickets from `duo pair --ticket` name it.",
                describe(other)
            ));
            if let Relay::Url(url) = other
                && url.scheme() == "http"
            {
                p.warn("this relay is plain http: the network between this device and the relay sees which device ids use it (what the devices send each other stays encrypted)");
            }
        }
    }
    if env::var(env::RELAY).is_some() {
        p.warn("DUO_RELAY is set in this environment and overrides this setting");
    }
    Ok(exit::OK)
}
