//! [`SdConfig`], one provider's configuration of any mechanism, and
//! [`ServiceDiscoveryConfigs`], the `*_sd_configs` keys of a scrape job.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    Discoverer, DnsDiscoverer, DnsSdConfig, Error, FileDiscoverer, FileSdConfig, HttpDiscoverer,
    HttpSdConfig, StaticDiscoverer, TargetGroupSpec,
};

/// The configuration of one provider: what the [`Manager`](crate::Manager) starts a
/// discoverer from, and compares to tell whether a reload changed it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per provider, compared on reload; boxing would only add noise"
)]
pub enum SdConfig {
    /// A job's `static_configs`, all of them, sourced by their index.
    Static(Vec<TargetGroupSpec>),
    /// One `file_sd_configs` entry.
    File(FileSdConfig),
    /// One `http_sd_configs` entry.
    Http(HttpSdConfig),
    /// One `dns_sd_configs` entry.
    Dns(DnsSdConfig),
    /// One `kubernetes_sd_configs` entry.
    #[cfg(feature = "kubernetes")]
    Kubernetes(crate::kubernetes::KubernetesSdConfig),
}

impl SdConfig {
    /// The mechanism's name, as Prometheus names providers (`static`, `file`, …).
    pub fn mechanism(&self) -> &'static str {
        match self {
            SdConfig::Static(_) => "static",
            SdConfig::File(_) => "file",
            SdConfig::Http(_) => "http",
            SdConfig::Dns(_) => "dns",
            #[cfg(feature = "kubernetes")]
            SdConfig::Kubernetes(_) => "kubernetes",
        }
    }

    /// A discoverer for this configuration.
    pub fn discoverer(&self) -> Result<Box<dyn Discoverer>, Error> {
        Ok(match self {
            SdConfig::Static(specs) => Box::new(StaticDiscoverer::new(specs)),
            SdConfig::File(c) => Box::new(FileDiscoverer::new(c.clone())),
            SdConfig::Http(c) => Box::new(HttpDiscoverer::new(c.clone())),
            SdConfig::Dns(c) => Box::new(DnsDiscoverer::new(c.clone())),
            #[cfg(feature = "kubernetes")]
            SdConfig::Kubernetes(c) => {
                Box::new(crate::kubernetes::KubernetesDiscoverer::new(c.clone())?)
            }
        })
    }
}

/// The service discovery keys of a `scrape_configs` entry (or of an
/// `alertmanagers` entry), as written in `prometheus.yml`. Meant to be flattened into the
/// enclosing configuration type with `#[serde(flatten)]`.
///
/// ```
/// use promlite_discovery::{SdConfig, ServiceDiscoveryConfigs};
///
/// let yaml = "
/// static_configs:
///   - targets: [localhost:9090]
///   - targets: [localhost:9100]
///     labels: {role: node}
/// file_sd_configs:
///   - files: [/etc/prometheus/targets/*.json]
/// ";
/// let c: ServiceDiscoveryConfigs = serde_norway::from_str(yaml).unwrap();
/// let providers = c.to_sd_configs();
/// assert_eq!(providers.len(), 2);
/// assert!(matches!(&providers[1], SdConfig::Static(groups) if groups.len() == 2));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceDiscoveryConfigs {
    /// `static_configs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<TargetGroupSpec>,
    /// `file_sd_configs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// `http_sd_configs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// `dns_sd_configs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// `kubernetes_sd_configs`.
    #[cfg(feature = "kubernetes")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubernetes_sd_configs: Vec<crate::kubernetes::KubernetesSdConfig>,
}

impl ServiceDiscoveryConfigs {
    /// One [`SdConfig`] per provider: each mechanism's entries in turn, then all
    /// `static_configs` coalesced into one provider whose groups are sourced `"0"`,
    /// `"1"`, … — Prometheus's order and numbering.
    pub fn to_sd_configs(&self) -> Vec<SdConfig> {
        let mut out: Vec<SdConfig> = Vec::new();
        out.extend(self.dns_sd_configs.iter().cloned().map(SdConfig::Dns));
        out.extend(self.file_sd_configs.iter().cloned().map(SdConfig::File));
        out.extend(self.http_sd_configs.iter().cloned().map(SdConfig::Http));
        #[cfg(feature = "kubernetes")]
        out.extend(
            self.kubernetes_sd_configs
                .iter()
                .cloned()
                .map(SdConfig::Kubernetes),
        );
        if !self.static_configs.is_empty() {
            out.push(SdConfig::Static(self.static_configs.clone()));
        }
        out
    }

    /// Joins the relative file paths of `file_sd_configs` with `dir`, the directory of
    /// the configuration file, as Prometheus does on load.
    pub fn set_directory(&mut self, dir: &Path) {
        for c in &mut self.file_sd_configs {
            c.set_directory(dir);
        }
        for c in &mut self.http_sd_configs {
            c.set_directory(dir);
        }
        #[cfg(feature = "kubernetes")]
        for c in &mut self.kubernetes_sd_configs {
            c.set_directory(dir);
        }
    }
}
