//! The kinds of definition lens knows; these words are what `kind:` accepts.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum SymbolKind {
    Function = 1,
    Method,
    Class,
    Struct,
    Union,
    Enum,
    Interface,
    Trait,
    /// Type aliases and typedefs.
    Type,
    Constant,
    Variable,
    Macro,
    Module,
    Field,
}

impl SymbolKind {
    pub const ALL: [SymbolKind; 14] = [
        SymbolKind::Function,
        SymbolKind::Method,
        SymbolKind::Class,
        SymbolKind::Struct,
        SymbolKind::Union,
        SymbolKind::Enum,
        SymbolKind::Interface,
        SymbolKind::Trait,
        SymbolKind::Type,
        SymbolKind::Constant,
        SymbolKind::Variable,
        SymbolKind::Macro,
        SymbolKind::Module,
        SymbolKind::Field,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Union => "union",
            SymbolKind::Enum => "enum",
            SymbolKind::Interface => "interface",
            SymbolKind::Trait => "trait",
            SymbolKind::Type => "type",
            SymbolKind::Constant => "constant",
            SymbolKind::Variable => "variable",
            SymbolKind::Macro => "macro",
            SymbolKind::Module => "module",
            SymbolKind::Field => "field",
        }
    }

    pub fn parse(s: &str) -> Option<SymbolKind> {
        SymbolKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn from_u8(b: u8) -> Option<SymbolKind> {
        SymbolKind::ALL.get((b as usize).checked_sub(1)?).copied()
    }

    /// Rank prior among definitions of one name: types and free functions
    /// first, members and locals-like kinds after.
    pub fn prior(self) -> u8 {
        match self {
            SymbolKind::Class
            | SymbolKind::Struct
            | SymbolKind::Interface
            | SymbolKind::Trait
            | SymbolKind::Enum
            | SymbolKind::Union
            | SymbolKind::Function
            | SymbolKind::Type
            | SymbolKind::Module => 3,
            SymbolKind::Method | SymbolKind::Macro => 2,
            SymbolKind::Constant => 1,
            SymbolKind::Variable | SymbolKind::Field => 0,
        }
    }
}

impl std::fmt::Display for SymbolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::SymbolKind;

    #[test]
    fn round_trips_names_and_bytes() {
        for k in SymbolKind::ALL {
            assert_eq!(SymbolKind::parse(k.as_str()), Some(k));
            assert_eq!(SymbolKind::from_u8(k as u8), Some(k));
        }
        assert_eq!(SymbolKind::from_u8(0), None);
        assert_eq!(SymbolKind::from_u8(15), None);
        assert_eq!(SymbolKind::parse("typedef"), None);
    }
}
