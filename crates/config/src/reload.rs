//! [`Reloader`]: the configuration in force, swapped only for one that loads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};

use crate::{Config, Error};

/// What a [`Reloader::reload`] did.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// The configuration now in force.
    pub config: Arc<Config>,
    /// Whether it differs from the one before.
    pub changed: bool,
}

/// The state of reloads, for `prometheus_config_last_reload_successful` and the
/// status page.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    /// Whether the last attempt succeeded.
    pub last_successful: bool,
    /// When a configuration was last loaded successfully.
    pub last_success: Option<SystemTime>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<Arc<Error>>,
}

/// Holds the configuration in force and reloads it from its file on request (SIGHUP,
/// `POST /-/reload`). A configuration that fails to load never replaces the running one:
/// the reload returns the error (also kept in [`status`](Self::status)) and the old
/// configuration stays.
///
/// Applying a new configuration to scrapers, rules and the rest is the caller's job:
/// it compares [`Reloaded::changed`] and hands [`Reloaded::config`] to each component.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    current: RwLock<Arc<Config>>,
    status: Mutex<ReloadStatus>,
}

impl Reloader {
    /// Loads `path`; fails if the first configuration does not load, as Prometheus
    /// refuses to start.
    pub fn new(path: impl Into<PathBuf>) -> Result<Reloader, Error> {
        let path = path.into();
        let config = Arc::new(Config::load(&path)?);
        Ok(Reloader {
            path,
            current: RwLock::new(config),
            status: Mutex::new(ReloadStatus {
                last_successful: true,
                last_success: Some(SystemTime::now()),
                last_error: None,
            }),
        })
    }

    /// The configuration file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<Config> {
        Arc::clone(&self.current.read())
    }

    /// Reads the file again. On success the new configuration is in force; on failure
    /// the old one stays and the error is returned.
    pub fn reload(&self) -> Result<Reloaded, Arc<Error>> {
        match Config::load(&self.path) {
            Ok(new) => {
                let mut cur = self.current.write();
                let changed = **cur != new;
                if changed {
                    *cur = Arc::new(new);
                }
                *self.status.lock() = ReloadStatus {
                    last_successful: true,
                    last_success: Some(SystemTime::now()),
                    last_error: None,
                };
                Ok(Reloaded {
                    config: Arc::clone(&cur),
                    changed,
                })
            }
            Err(e) => {
                let e = Arc::new(e);
                let mut st = self.status.lock();
                st.last_successful = false;
                st.last_error = Some(Arc::clone(&e));
                Err(e)
            }
        }
    }

    /// The state of reloads.
    pub fn status(&self) -> ReloadStatus {
        self.status.lock().clone()
    }
}
