//! [`Action`]: the eleven relabel actions and their YAML spelling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// What a relabel rule does. The YAML spelling is the lowercase name; Prometheus accepts
/// any letter case when reading (`action: Replace` works) and so do we.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Action {
    /// Writes the `replacement` template, expanded with the regex's groups, to the label
    /// named by the expanded `target_label`, when the regex matches the joined source values.
    #[default]
    Replace,
    /// Drops the target unless the regex matches the joined source values.
    Keep,
    /// Drops the target when the regex matches the joined source values.
    Drop,
    /// Drops the target unless the joined source values equal the `target_label`'s value.
    KeepEqual,
    /// Drops the target when the joined source values equal the `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to the MD5 of the joined source values modulo `modulus`.
    HashMod,
    /// Copies every label whose name matches the regex to the name the `replacement`
    /// template expands to.
    LabelMap,
    /// Removes every label whose name matches the regex.
    LabelDrop,
    /// Removes every label whose name does not match the regex.
    LabelKeep,
    /// Sets `target_label` to the joined source values in lower case.
    Lowercase,
    /// Sets `target_label` to the joined source values in upper case.
    Uppercase,
}

impl Action {
    /// Every action, in the order Prometheus's documentation lists them.
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The name as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Whether the action may drop the whole label set (the others only edit it).
    pub fn can_drop(self) -> bool {
        matches!(
            self,
            Action::Keep | Action::Drop | Action::KeepEqual | Action::DropEqual
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = Error;

    /// Parses a name in any letter case, as Prometheus's `Action.UnmarshalYAML` does
    /// (it lowercases with Unicode rules before comparing).
    fn from_str(s: &str) -> Result<Action, Error> {
        let found = Action::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s));
        match found {
            Some(a) => Ok(a),
            // Only non-ASCII letters can still lowercase to an action name: the Kelvin
            // sign `K` lowercases to `k`, so Go accepts `\u{212A}eep`. Rare enough to pay
            // for an allocation.
            None if !s.is_ascii() => {
                let lower = s.to_lowercase();
                Action::ALL
                    .into_iter()
                    .find(|a| a.as_str() == lower)
                    .ok_or_else(|| Error::UnknownAction(s.to_owned()))
            }
            None => Err(Error::UnknownAction(s.to_owned())),
        }
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
