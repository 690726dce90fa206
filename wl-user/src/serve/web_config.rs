//! `--web-config FILE`: TLS and basic auth in the file format Prometheus and its
//! exporters share (the exporter-toolkit's `web-config.yml`), so an operator's existing
//! file and habits carry over:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/wl/server.crt
//!   key_file: /etc/wl/server.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional
//!   client_ca_file: /etc/wl/clients.crt            # with client certificates
//! basic_auth_users:
//!   prometheus: $2y$10$...                         # bcrypt, e.g. htpasswd -nBC 10 ""
//! ```
//!
//! Everything is read and checked at start-up: a bad file stops the daemon before it
//! loads anything, with one line naming the file and the field.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    str::FromStr,
    sync::{Arc, Mutex},
};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Outer None: the key is absent; inner None: present but empty (`null`), which is
    /// refused rather than read as "no TLS".
    #[serde(default, deserialize_with = "present")]
    tls_server_config: Option<Option<TlsFile>>,
    /// The same for users: `basic_auth_users:` with no users (`null` or `{}`) would
    /// serve with no authentication while the file seems to ask for it.
    #[serde(default, deserialize_with = "present")]
    basic_auth_users: Option<Option<BTreeMap<String, String>>>,
}

/// A key that is present, whatever its value, including `null`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    /// `TLS12` or `TLS13`: the oldest version accepted.
    #[serde(default)]
    min_version: Option<String>,
}

/// What the web config asks for.
pub struct WebConfig {
    pub tls: Option<Arc<ServerConfig>>,
    pub auth: Option<BasicAuth>,
}

impl WebConfig {
    /// No file: plain HTTP, no authentication.
    pub fn none() -> WebConfig {
        WebConfig {
            tls: None,
            auth: None,
        }
    }

    pub fn load(path: &Path) -> Result<WebConfig> {
        let flag = format!("--web-config {}", path.display());
        let text = crate::input::read_text(path, crate::input::limit::WEB_CONFIG)
            .with_context(|| format!("cannot read {flag}"))?;
        Self::parse(&text, &flag)
    }

    /// The settings of a web config's text; errors start with `flag`.
    pub fn parse(text: &str, flag: &str) -> Result<WebConfig> {
        let file: File = serde_yaml_ng::from_str(text)
            .map_err(|e| anyhow::anyhow!("{flag}: {}", one_line(&e.to_string())))?;
        let tls = match file.tls_server_config {
            None => None,
            Some(None) => bail!(
                "{flag}: tls_server_config is empty, which would serve plain HTTP; give its cert_file and key_file, or leave the key out"
            ),
            Some(Some(t)) => {
                Some(tls_config(&t).with_context(|| format!("{flag}: tls_server_config"))?)
            }
        };
        let auth = match file.basic_auth_users {
            None => None,
            Some(users) if users.as_ref().is_none_or(BTreeMap::is_empty) => bail!(
                "{flag}: basic_auth_users lists no user, which would serve with no authentication; list users (name: bcrypt hash), or leave the key out"
            ),
            Some(users) => {
                Some(BasicAuth::new(users.unwrap_or_default()).with_context(|| flag.to_owned())?)
            }
        };
        // A file that asks for nothing is a mistake (the wrong file, a truncated one):
        // serving plain HTTP without a word would hide it.
        if tls.is_none() && auth.is_none() {
            bail!(
                "{flag}: sets neither tls_server_config nor basic_auth_users, so it would change nothing; leave --web-config out to serve plain HTTP"
            );
        }
        Ok(WebConfig { tls, auth })
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A certificate or key file, read with the bound every named file has.
fn pem(field: &str, path: &Path) -> Result<Vec<u8>> {
    crate::input::read_bytes(path, crate::input::limit::WEB_CONFIG)
        .map_err(|e| anyhow::anyhow!("{field} {}: {e}", path.display()))
}

fn tls_config(t: &TlsFile) -> Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(&pem("cert_file", &t.cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("cert_file {}: {e}", t.cert_file.display()))?;
    if certs.is_empty() {
        bail!("cert_file {}: no certificate in it", t.cert_file.display());
    }
    let key = PrivateKeyDer::from_pem_slice(&pem("key_file", &t.key_file)?)
        .map_err(|e| anyhow::anyhow!("key_file {}: {e}", t.key_file.display()))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match t.min_version.as_deref() {
        None | Some("TLS12") => rustls::ALL_VERSIONS,
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(v) => bail!("min_version {v}: wl serves TLS12 or TLS13"),
    };
    let builder = ServerConfig::builder_with_protocol_versions(versions);
    let client_ca = || -> Result<Arc<RootCertStore>> {
        let path = t
            .client_ca_file
            .as_ref()
            .context("client_auth_type verifies client certificates: client_ca_file is needed")?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem("client_ca_file", path)?) {
            let cert =
                cert.map_err(|e| anyhow::anyhow!("client_ca_file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("client_ca_file {}: {e}", path.display()))?;
        }
        Ok(Arc::new(roots))
    };
    let builder = match t.client_auth_type.as_deref() {
        None | Some("NoClientCert") => builder.with_no_client_auth(),
        Some("RequireAndVerifyClientCert") => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder(client_ca()?)
                .build()
                .context("client_ca_file")?,
        ),
        Some("VerifyClientCertIfGiven") => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder(client_ca()?)
                .allow_unauthenticated()
                .build()
                .context("client_ca_file")?,
        ),
        // Accepting a certificate without checking it proves nothing.
        Some(other @ ("RequestClientCert" | "RequireAnyClientCert")) => bail!(
            "client_auth_type {other} takes unverified certificates, which wl does not; use \
             RequireAndVerifyClientCert or VerifyClientCertIfGiven"
        ),
        Some(other) => bail!(
            "client_auth_type {other}: not one of NoClientCert, VerifyClientCertIfGiven, \
             RequireAndVerifyClientCert"
        ),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("cert_file and key_file do not make a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Users and their bcrypt hashes. A right password is remembered, so that a scraper
/// that sends it every second costs one bcrypt run, not one per scrape (at cost 10 a
/// run takes tens of milliseconds); a wrong one is never remembered.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// A hash checked for unknown users, at the users' cost, so that an unknown name
    /// takes as long as a wrong password and does not tell which names exist.
    decoy: String,
    /// (user, password) pairs that matched, at most [`BasicAuth::REMEMBERED`].
    good: Mutex<HashSet<(String, String)>>,
}

impl BasicAuth {
    const REMEMBERED: usize = 64;

    fn new(users: BTreeMap<String, String>) -> Result<BasicAuth> {
        let mut cost = bcrypt::DEFAULT_COST;
        for (user, hash) in &users {
            if user.contains(':') {
                bail!(
                    "basic_auth_users: user name '{user}' has a ':', which basic auth cannot send"
                );
            }
            let parts = bcrypt::HashParts::from_str(hash)
                .map_err(|e| anyhow::anyhow!("basic_auth_users.{user}: not a bcrypt hash ({e})"))?;
            cost = parts.get_cost();
        }
        let decoy = bcrypt::hash("wl: no such user", cost).context("cannot run bcrypt")?;
        Ok(BasicAuth {
            users,
            decoy,
            good: Mutex::new(HashSet::new()),
        })
    }

    /// Whether an `Authorization` header value names a user with the right password.
    /// Runs bcrypt: call it off the async threads.
    pub fn allows(&self, header: Option<&str>) -> bool {
        let Some((user, password)) = header.and_then(decode_basic) else {
            return false;
        };
        let pair = (user, password);
        if self.good.lock().expect("never poisoned").contains(&pair) {
            return true;
        }
        let (user, password) = &pair;
        let ok = match self.users.get(user) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(password, &self.decoy);
                false
            }
        };
        if ok {
            let mut good = self.good.lock().expect("never poisoned");
            if good.len() >= Self::REMEMBERED {
                good.clear();
            }
            good.insert(pair);
        }
        ok
    }
}

/// `Basic base64(user:password)` → (user, password).
fn decode_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("wl-webcfg-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    fn err(text: &str) -> String {
        // A name of its own: the tests run at the same time.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = write(&format!("bad-{n}.yml"), text);
        let e = WebConfig::load(&p).err().expect("refused");
        std::fs::remove_file(&p).unwrap();
        format!("{e:#}")
    }

    #[test]
    fn basic_auth_checks_the_password_and_remembers_only_right_ones() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = BasicAuth::new([("prom".to_owned(), hash)].into()).unwrap();
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert!(auth.allows(Some(&header("prom", "s3cret"))));
        assert!(auth.allows(Some(&header("prom", "s3cret"))), "remembered");
        assert!(!auth.allows(Some(&header("prom", "wrong"))));
        assert!(!auth.allows(Some(&header("other", "s3cret"))));
        assert!(!auth.allows(None));
        assert!(!auth.allows(Some("Bearer x")));
        assert_eq!(auth.good.lock().unwrap().len(), 1);
    }

    #[test]
    fn bad_files_name_the_field() {
        assert!(
            err("basic_auth_users:\n  prom: not-a-hash\n")
                .contains("basic_auth_users.prom: not a bcrypt hash"),
        );
        assert!(
            err("tls_server_config:\n  cert_file: /nonexistent/c.pem\n  key_file: /x\n")
                .contains("tls_server_config: cert_file /nonexistent/c.pem")
        );
        assert!(err("basic_auth_user: {}\n").contains("unknown field"));
        let e = err(
            "tls_server_config:\n  cert_file: /x\n  key_file: /y\n  client_auth_type: RequireAnyClientCert\n",
        );
        assert!(e.contains("cert_file /x"), "{e}");
        assert!(!err(": : :\n").contains('\n'));
    }

    #[test]
    fn settings_present_but_empty_are_refused() {
        for text in [
            "basic_auth_users: {}\n",
            "basic_auth_users:\n",
            "basic_auth_users: null\n",
        ] {
            let e = err(text);
            assert!(
                e.contains(
                    "basic_auth_users lists no user, which would serve with no authentication"
                ),
                "{text}: {e}"
            );
        }
        let e = err("tls_server_config:\n");
        assert!(
            e.contains("tls_server_config is empty, which would serve plain HTTP"),
            "{e}"
        );
    }

    #[test]
    fn an_endless_or_blocking_file_is_refused_at_once() {
        let e = format!(
            "{:#}",
            WebConfig::load(Path::new("/dev/zero")).err().unwrap()
        );
        assert_eq!(
            e,
            "cannot read --web-config /dev/zero: a character device, not a regular file"
        );
        let e = err("tls_server_config:\n  cert_file: /dev/zero\n  key_file: /dev/zero\n");
        assert!(
            e.contains("cert_file /dev/zero: a character device, not a regular file"),
            "{e}"
        );
    }

    #[test]
    fn a_file_that_asks_for_nothing_is_refused() {
        for text in ["{}\n", "", "# nothing\n"] {
            let e = err(text);
            assert!(
                e.contains("sets neither tls_server_config nor basic_auth_users, so it would change nothing"),
                "{text:?}: {e}"
            );
        }
    }
}
