//! Tests of the registry module through its public API: against a real registry
//! (`/usr/bin/docker-registry`, started per test on a free loopback port), against a hostile
//! in-process HTTP server, and on image layouts.

mod hostile;
mod layout;
mod real;
mod referrers;
mod support;

/// Tests only: lets an in-process TLS server stand in for remote hosts. The HTTPS client then
/// trusts only `roots` (DER certificates) and finds each of `hosts` at `127.0.0.1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TestNetwork {
    /// Certificates to trust instead of the system's.
    pub(crate) roots: Vec<Vec<u8>>,
    /// Host names found at `127.0.0.1` (the port is the URL's).
    pub(crate) hosts: Vec<String>,
}

impl TestNetwork {
    pub(super) fn apply(&self, mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        if !self.roots.is_empty() {
            let roots = self
                .roots
                .iter()
                .filter_map(|der| reqwest::Certificate::from_der(der).ok());
            builder = builder.tls_certs_only(roots);
        }
        for host in &self.hosts {
            builder = builder.resolve(host, std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        }
        builder.no_proxy()
    }
}
