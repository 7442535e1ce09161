//! `dns_sd_configs`: targets from DNS SRV, A, AAAA, MX or NS records, looked up every
//! `refresh_interval`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use promlite_model::{Labels, LabelsBuilder};
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::mpsc;

use crate::discoverer::{BoxFuture, Refresh, run_refresh};
use crate::{ADDRESS_LABEL, Discoverer, Error, PromDuration, TargetGroup, Update};

/// The label holding the name that was looked up.
pub const DNS_NAME_LABEL: &str = "__meta_dns_name";
/// The target of an SRV record, with its final dot.
pub const DNS_SRV_RECORD_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
/// The port of an SRV record.
pub const DNS_SRV_RECORD_PORT_LABEL: &str = "__meta_dns_srv_record_port";
/// The exchange of an MX record, with its final dot.
pub const DNS_MX_RECORD_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
/// The name server of an NS record, with its final dot.
pub const DNS_NS_RECORD_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

/// The default `refresh_interval` of DNS SD: thirty seconds.
pub const DEFAULT_DNS_REFRESH: PromDuration = PromDuration::from_secs(30);

/// The record types DNS SD can query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsRecordType {
    /// Service records: host and port both come from the record.
    #[default]
    Srv,
    /// IPv4 addresses, with the configured port.
    A,
    /// IPv6 addresses, with the configured port.
    Aaaa,
    /// Mail exchangers, with the configured port.
    Mx,
    /// Name servers, with the configured port.
    Ns,
}

impl DnsRecordType {
    /// Parses a type name case-insensitively, as Prometheus does.
    pub fn parse(s: &str) -> Result<DnsRecordType, Error> {
        match s.to_ascii_uppercase().as_str() {
            "SRV" => Ok(DnsRecordType::Srv),
            "A" => Ok(DnsRecordType::A),
            "AAAA" => Ok(DnsRecordType::Aaaa),
            "MX" => Ok(DnsRecordType::Mx),
            "NS" => Ok(DnsRecordType::Ns),
            _ => Err(Error::InvalidDnsType(s.to_owned())),
        }
    }

    fn record_type(self) -> RecordType {
        match self {
            DnsRecordType::Srv => RecordType::SRV,
            DnsRecordType::A => RecordType::A,
            DnsRecordType::Aaaa => RecordType::AAAA,
            DnsRecordType::Mx => RecordType::MX,
            DnsRecordType::Ns => RecordType::NS,
        }
    }
}

/// One entry of `dns_sd_configs`.
///
/// ```
/// use promlite_discovery::{DnsRecordType, DnsSdConfig};
///
/// let c: DnsSdConfig = serde_norway::from_str("names: [_prometheus._tcp.example.org]").unwrap();
/// assert_eq!((c.record_type, c.refresh_interval.to_string()), (DnsRecordType::Srv, "30s".into()));
/// let err = serde_norway::from_str::<DnsSdConfig>("names: [db.example.org]\ntype: A").unwrap_err();
/// assert!(err.to_string().contains("a port is required in DNS-SD configs for all record types except SRV"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsSdConfig {
    /// Names to look up.
    pub names: Vec<String>,
    /// How often to look them up.
    pub refresh_interval: PromDuration,
    /// The record type to query.
    #[serde(rename = "type")]
    pub record_type: DnsRecordType,
    /// The port of the targets; ignored for SRV, required for the other types.
    pub port: u16,
}

impl DnsSdConfig {
    /// Prometheus's checks: at least one name, and a port unless the type is SRV.
    pub fn validate(&self) -> Result<(), Error> {
        if self.names.is_empty() {
            return Err(Error::NoDnsNames);
        }
        if self.record_type != DnsRecordType::Srv && self.port == 0 {
            return Err(Error::DnsPortRequired);
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for DnsSdConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            names: Option<Vec<String>>,
            #[serde(default)]
            refresh_interval: Option<PromDuration>,
            #[serde(default, rename = "type")]
            record_type: Option<String>,
            #[serde(default)]
            port: Option<u16>,
        }
        let raw = Raw::deserialize(d)?;
        let names = raw.names.unwrap_or_default();
        if names.is_empty() {
            return Err(serde::de::Error::custom(Error::NoDnsNames));
        }
        let record_type = match raw.record_type {
            // A null or empty `type` is Go's zero value, which Prometheus rejects.
            Some(t) => DnsRecordType::parse(&t).map_err(serde::de::Error::custom)?,
            None => DnsRecordType::Srv,
        };
        let c = DnsSdConfig {
            names,
            refresh_interval: raw.refresh_interval.unwrap_or(DEFAULT_DNS_REFRESH),
            record_type,
            port: raw.port.unwrap_or(0),
        };
        c.validate().map_err(serde::de::Error::custom)?;
        Ok(c)
    }
}

/// Looks up `dns_sd_configs` names: Prometheus's DNS discovery.
///
/// Each name becomes one group, sourced by the name. A name that does not exist, or has
/// no record of the type, gives an empty group (its targets are withdrawn); a name that
/// fails to resolve (timeouts, `SERVFAIL`) is reported and keeps its last targets.
///
/// The resolver reads the system configuration (`/etc/resolv.conf`, with its search
/// domains) unless [`DnsDiscoverer::with_nameservers`] names the servers to ask. The
/// resolver's cache is off: every refresh asks again, as Prometheus does.
#[derive(Debug)]
pub struct DnsDiscoverer {
    config: DnsSdConfig,
    nameservers: Option<Vec<SocketAddr>>,
}

impl DnsDiscoverer {
    /// A discoverer for `config` using the system's resolver configuration.
    pub fn new(config: DnsSdConfig) -> DnsDiscoverer {
        DnsDiscoverer {
            config,
            nameservers: None,
        }
    }

    /// Asks these servers (UDP, then TCP on truncation) instead of the system's.
    pub fn with_nameservers(mut self, servers: Vec<SocketAddr>) -> DnsDiscoverer {
        self.nameservers = Some(servers);
        self
    }

    fn resolver(&self) -> Result<TokioResolver, Error> {
        let (config, mut opts) = match &self.nameservers {
            Some(servers) => (
                ResolverConfig::from_name_servers(
                    servers.iter().map(|&s| name_server(s)).collect(),
                ),
                ResolverOpts::default(),
            ),
            None => system_config()?,
        };
        opts.cache_size = 0;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        let mut builder = hickory_resolver::Resolver::builder_with_config(
            config,
            TokioRuntimeProvider::default(),
        );
        *builder.options_mut() = opts;
        builder.build().map_err(Error::ResolvConf)
    }
}

fn name_server(addr: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}

#[cfg(feature = "system-dns")]
fn system_config() -> Result<(ResolverConfig, ResolverOpts), Error> {
    hickory_resolver::system_conf::read_system_conf().map_err(Error::ResolvConf)
}

#[cfg(not(feature = "system-dns"))]
fn system_config() -> Result<(ResolverConfig, ResolverOpts), Error> {
    Err(Error::ResolvConf(hickory_resolver::net::NetError::Message(
        "built without the system-dns feature: name servers must be given",
    )))
}

impl Discoverer for DnsDiscoverer {
    fn run(self: Box<Self>, updates: mpsc::Sender<Update>) -> BoxFuture<()> {
        Box::pin(async move {
            let resolver = match self.resolver() {
                Ok(r) => r,
                Err(e) => {
                    let _ = updates.send(Err(e)).await;
                    return;
                }
            };
            let interval = self.config.refresh_interval.as_std();
            run_refresh(
                DnsRefresh {
                    config: self.config,
                    resolver,
                },
                interval,
                updates,
                "dns",
            )
            .await;
        })
    }
}

struct DnsRefresh {
    config: DnsSdConfig,
    resolver: TokioResolver,
}

impl Refresh for DnsRefresh {
    async fn refresh(&mut self) -> Vec<Update> {
        let mut set = tokio::task::JoinSet::new();
        for (i, name) in self.config.names.iter().enumerate() {
            let resolver = self.resolver.clone();
            let name = name.clone();
            let rtype = self.config.record_type.record_type();
            set.spawn(async move {
                let result = match resolver.lookup(name.as_str(), rtype).await {
                    Ok(lookup) => Ok(lookup.answers().to_vec()),
                    // NXDOMAIN and "no records of this type" are answers: the name has
                    // no targets now. Prometheus treats them alike.
                    Err(e) if e.is_no_records_found() => Ok(Vec::new()),
                    Err(source) => Err(Error::Dns {
                        name: name.clone(),
                        source,
                    }),
                };
                (i, name, result)
            });
        }
        let mut done = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(r) = joined {
                done.push(r);
            }
        }
        done.sort_by_key(|(i, _, _)| *i);
        let mut groups = Vec::new();
        let mut errors = Vec::new();
        for (_, name, result) in done {
            match result {
                Ok(records) => groups.push(dns_group(&name, &records, self.config.port)),
                Err(e) => errors.push(Err(e)),
            }
        }
        let mut out = vec![Ok(groups)];
        out.extend(errors);
        out
    }
}

/// The group of one looked-up `name` from the answer's records: one target per SRV, A,
/// AAAA, MX or NS record, with Prometheus's `__meta_dns_*` labels. `port` is used for
/// all types but SRV. CNAME records (which come with A answers) and other types are
/// skipped.
pub fn dns_group(name: &str, records: &[Record], port: u16) -> TargetGroup {
    let mut b = LabelsBuilder::new();
    let mut targets = Vec::new();
    for record in records {
        b.reset(&Labels::empty());
        let address = match &record.data {
            RData::SRV(srv) => {
                let target = srv.target.to_ascii();
                b.set(DNS_SRV_RECORD_TARGET_LABEL, &target);
                b.set(DNS_SRV_RECORD_PORT_LABEL, &srv.port.to_string());
                // The final dot of rooted names is dropped from the address to make it
                // look usual, but kept in the meta label.
                host_port(target.trim_end_matches('.'), srv.port)
            }
            RData::MX(mx) => {
                let target = mx.exchange.to_ascii();
                b.set(DNS_MX_RECORD_TARGET_LABEL, &target);
                host_port(target.trim_end_matches('.'), port)
            }
            RData::NS(ns) => {
                let target = ns.0.to_ascii();
                b.set(DNS_NS_RECORD_TARGET_LABEL, &target);
                host_port(target.trim_end_matches('.'), port)
            }
            RData::A(a) => SocketAddr::new(IpAddr::V4(a.0), port).to_string(),
            RData::AAAA(a) => SocketAddr::new(IpAddr::V6(a.0), port).to_string(),
            RData::CNAME(_) => continue,
            other => {
                tracing::warn!(record = ?other, "Invalid record");
                continue;
            }
        };
        b.set(ADDRESS_LABEL, &address);
        b.set(DNS_NAME_LABEL, name);
        targets.push(b.build());
    }
    TargetGroup {
        source: name.to_owned(),
        targets,
        labels: Labels::empty(),
    }
}

/// Go's `net.JoinHostPort`: brackets around hosts holding a colon.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::str::FromStr;

    use hickory_resolver::proto::rr::Name;
    use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SRV, TXT};

    use super::*;

    fn rec(data: RData) -> Record {
        Record::from_rdata(Name::from_str("q.example.").unwrap(), 30, data)
    }

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    #[test]
    fn translation_table() {
        // (records, configured port, targets as label sets)
        let cases: Vec<(Vec<Record>, u16, Vec<&str>)> = vec![
            (
                vec![rec(RData::SRV(SRV::new(
                    0,
                    0,
                    9100,
                    name("db1.example.org."),
                )))],
                0,
                vec![
                    r#"{__address__="db1.example.org:9100", __meta_dns_name="q", __meta_dns_srv_record_port="9100", __meta_dns_srv_record_target="db1.example.org."}"#,
                ],
            ),
            (
                vec![
                    rec(RData::CNAME(CNAME(name("alias.example.")))),
                    rec(RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))),
                    rec(RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))),
                ],
                80,
                vec![
                    r#"{__address__="192.0.2.1:80", __meta_dns_name="q"}"#,
                    r#"{__address__="[::1]:80", __meta_dns_name="q"}"#,
                ],
            ),
            (
                vec![rec(RData::MX(MX::new(10, name("mx.example.org."))))],
                25,
                vec![
                    r#"{__address__="mx.example.org:25", __meta_dns_mx_record_target="mx.example.org.", __meta_dns_name="q"}"#,
                ],
            ),
            (
                vec![rec(RData::NS(NS(name("ns1.example.org."))))],
                53,
                vec![
                    r#"{__address__="ns1.example.org:53", __meta_dns_name="q", __meta_dns_ns_record_target="ns1.example.org."}"#,
                ],
            ),
            (vec![rec(RData::TXT(TXT::new(vec!["x".into()])))], 1, vec![]),
            (vec![], 1, vec![]),
        ];
        for (records, port, want) in cases {
            let g = dns_group("q", &records, port);
            assert_eq!(g.source, "q");
            let got: Vec<String> = g.targets.iter().map(ToString::to_string).collect();
            assert_eq!(got, want, "{records:?}");
        }
    }

    #[test]
    #[allow(clippy::type_complexity)] // A table of cases reads best inline.
    fn config_table() {
        let cases: &[(&str, Result<(DnsRecordType, u16, u64), &str>)] = &[
            ("names: [a]", Ok((DnsRecordType::Srv, 0, 30))),
            (
                "names: [a]\ntype: aaaa\nport: 9\nrefresh_interval: 1m",
                Ok((DnsRecordType::Aaaa, 9, 60)),
            ),
            (
                "names: [a]\ntype: MX\nport: 25",
                Ok((DnsRecordType::Mx, 25, 30)),
            ),
            (
                "names: []",
                Err("DNS-SD config must contain at least one SRV record name"),
            ),
            (
                "names: [a]\ntype: NS",
                Err("a port is required in DNS-SD configs for all record types except SRV"),
            ),
            (
                "names: [a]\ntype: TXT",
                Err("invalid DNS-SD records type TXT"),
            ),
        ];
        for (yaml, want) in cases {
            let got = serde_norway::from_str::<DnsSdConfig>(yaml)
                .map(|c| (c.record_type, c.port, c.refresh_interval.as_std().as_secs()))
                .map_err(|e| e.to_string());
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, *w, "{yaml}"),
                (Err(g), Err(w)) => assert!(g.starts_with(w), "{yaml}: {g}"),
                (g, w) => panic!("{yaml}: got {g:?}, want {w:?}"),
            }
        }
    }
}
