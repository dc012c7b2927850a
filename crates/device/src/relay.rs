//! Relays: how two devices that cannot reach each other directly (different networks,
//! NATs) still connect. A relay forwards QUIC packets it cannot read; iroh's TLS still
//! runs end to end between the two devices.
//!
//! duo uses none by default: it contacts nothing beyond the local network unless its
//! person opts in, with n0's public relays ([`Relay::N0`]) or a self-hosted `iroh-relay`
//! ([`Relay::Url`]). [`Relays`] is that choice plus extra certificates to trust for it.
//!
//! ```
//! use duo_device::relay::Relay;
//! let r: Relay = "https://relay.example.org".parse().unwrap();
//! assert_eq!(r.to_string(), "https://relay.example.org/");
//! assert!("relay.example.org".parse::<Relay>().unwrap_err().to_string().contains("https://"));
//! ```

use iroh::RelayUrl;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Which relay this device may use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Relay {
    /// None: devices reach each other only at addresses they can reach directly.
    #[default]
    Disabled,
    /// n0's public relays (their operator sees what any relay sees, see docs/security.md).
    N0,
    /// A self-hosted `iroh-relay`.
    Url(RelayUrl),
}

impl Relay {
    pub fn is_enabled(&self) -> bool {
        *self != Relay::Disabled
    }
}

impl fmt::Display for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Relay::Disabled => f.write_str("disabled"),
            Relay::N0 => f.write_str("n0"),
            Relay::Url(url) => write!(f, "{url}"),
        }
    }
}

/// A value that is not `disabled`, `n0` or a usable relay URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a relay: {why}")]
pub struct ParseRelayError {
    pub value: String,
    pub why: String,
}

impl FromStr for Relay {
    type Err = ParseRelayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value = s.trim();
        let bad = |why: &str| ParseRelayError {
            value: value.to_string(),
            why: why.to_string(),
        };
        match value {
            "disabled" => return Ok(Relay::Disabled),
            "n0" => return Ok(Relay::N0),
            "" => return Err(bad("give disabled, n0 or a relay URL")),
            _ => {}
        }
        if !value.contains("://") {
            return Err(bad(
                "not disabled or n0, and not a URL (a relay URL starts with https://)",
            ));
        }
        let url: RelayUrl = value
            .parse()
            .map_err(|_| bad("the URL cannot be read (expected something like https://relay.example.org:8443)"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(bad(
                "a relay URL starts with https:// (or http:// for a relay without TLS)",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("the URL names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("a relay URL carries no user name or password"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "a relay URL is only a scheme, a host and an optional port (iroh-relay serves fixed paths)",
            ));
        }
        Ok(Relay::Url(url))
    }
}

/// The relay choice in force and the certificates trusted for it besides the usual roots.
#[derive(Clone, Debug, Default)]
pub struct Relays {
    pub relay: Relay,
    /// Extra roots for the relay's TLS certificate (a self-signed relay).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl Relays {
    /// Relays off: nothing beyond the addresses a device is given is contacted.
    pub fn disabled() -> Relays {
        Relays::default()
    }

    pub fn new(relay: Relay) -> Relays {
        Relays {
            relay,
            extra_roots: Vec::new(),
        }
    }

    /// Also trust the certificates in a PEM file (for a relay with a self-signed one).
    pub fn trusting(mut self, roots: Vec<CertificateDer<'static>>) -> Relays {
        self.extra_roots.extend(roots);
        self
    }
}

/// A certificate file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct CaFileError {
    pub path: PathBuf,
    pub why: String,
}

/// Read every certificate in a PEM file.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let err = |why: String| CaFileError {
        path: path.to_path_buf(),
        why,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(err("no certificate in it (expected -----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_kinds() {
        assert_eq!("disabled".parse::<Relay>().unwrap(), Relay::Disabled);
        assert_eq!(" n0 ".parse::<Relay>().unwrap(), Relay::N0);
        let r: Relay = "https://relay.example.org:8443".parse().unwrap();
        assert_eq!(r.to_string(), "https://relay.example.org:8443/");
        assert_eq!(r.to_string().parse::<Relay>().unwrap(), r, "its own form reads back");
        assert!(matches!(
            "http://10.0.0.1:3340/".parse::<Relay>().unwrap(),
            Relay::Url(_)
        ));
    }

    #[test]
    fn refuses_what_is_not_a_relay_with_a_reason() {
        for (value, says) in [
            ("", "disabled, n0"),
            ("off", "not disabled or n0"),
            ("relay.example.org", "https://"),
            ("ftp://relay.example.org", "starts with https://"),
            ("https://relay.example.org/relay", "only a scheme"),
            ("https://relay.example.org/#x", "only a scheme"),
            ("https://me:pw@relay.example.org", "user name"),
            ("https://", "cannot be read"),
        ] {
            let e = value.parse::<Relay>().unwrap_err().to_string();
            assert!(e.contains(says), "{value}: {e}");
        }
    }

    #[test]
    fn reads_certificates_and_names_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("none.pem");
        assert!(read_ca_file(&none).unwrap_err().to_string().contains("none.pem"));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "hello\n").unwrap();
        assert!(read_ca_file(&empty).unwrap_err().to_string().contains("no certificate"));
        // A syntactically valid PEM block is taken as is; rustls judges it when used.
        let pem = dir.path().join("one.pem");
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n").unwrap();
        assert_eq!(read_ca_file(&pem).unwrap().len(), 1);
    }
}
