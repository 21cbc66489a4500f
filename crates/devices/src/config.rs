//! Device settings as the configuration file holds them: a table per device, its backend named
//! by `type`, the backend's parameters beside it.
//!
//! Each backend's crate defines and checks its own parameters ([`DeviceParams`]); a check names
//! the offending key relative to the device's table ([`FieldError`]) and the binary points at
//! its FILE:LINE:COLUMN.
//!
//! serde's internally tagged enums (`#[serde(tag = "type")]`) buffer the table before picking the
//! variant, which loses the position of every value in it: a wrong value would be reported at
//! the table's header, without its key. [`deserialize_tagged`] reads `type` first and then hands
//! the *same* map to the variant's parameters, so the format's own positions survive.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, VariantAccess,
    Visitor,
};

/// A setting that cannot be used: the dotted key relative to the device's table, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct FieldError {
    /// Dotted key relative to the device's table (`modbus.tcp`, `capacity_wh`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// The setting `key` is wrong because of `message`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A backend's parameters, checked beyond their syntax (ranges, combinations).
pub trait DeviceParams {
    /// Checks the values; the error names the key relative to the device's table.
    fn validate(&self) -> Result<(), FieldError>;
}

/// No parameters (`type = "none"`): nothing to check.
impl DeviceParams for () {
    fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}

impl<T: DeviceParams + ?Sized> DeviceParams for Box<T> {
    fn validate(&self) -> Result<(), FieldError> {
        (**self).validate()
    }
}

/// The name of the key that selects the backend.
pub const TAG: &str = "type";

/// An enum of backends read from a table tagged by `type`, with positions kept: derive
/// `Deserialize` with `#[serde(remote = "Self")]` (the variants as an externally tagged enum,
/// `rename_all = "kebab-case"`) and implement [`serde::Deserialize`] with [`deserialize_tagged`]:
///
/// ```
/// #[derive(serde::Deserialize)]
/// #[serde(remote = "Self", rename_all = "kebab-case")]
/// enum Meter {
///     Sim,
///     Sdm630(Params),
/// }
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Params {
///     unit: u8,
/// }
/// impl devices::config::Tagged for Meter {
///     fn deserialize_variant<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
///         Meter::deserialize(d)
///     }
/// }
/// impl<'de> serde::Deserialize<'de> for Meter {
///     fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
///         devices::config::deserialize_tagged(d)
///     }
/// }
/// ```
///
/// `type` must be the table's first key (the binary moves it there in TOML files); unit
/// variants take no other key.
pub trait Tagged: Sized {
    /// The derived, externally tagged deserialization (`Self::deserialize` of `remote = "Self"`).
    fn deserialize_variant<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;

    /// The `type` names, in declaration order.
    fn type_names() -> &'static [&'static str] {
        match Self::deserialize_variant(VariantsProbe) {
            Err(Probed(names)) => names,
            Ok(_) => &[],
        }
    }
}

/// Deserializes a [`Tagged`] enum from a map whose first key is `type`.
pub fn deserialize_tagged<'de, D: Deserializer<'de>, T: Tagged>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(TaggedVisitor(PhantomData))
}

/// Adds the trait impls of [`Tagged`] and [`serde::Deserialize`] to an enum that derives
/// `Deserialize` with `#[serde(remote = "Self")]`.
#[macro_export]
macro_rules! tagged_enum {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::config::Tagged for $t {
            fn deserialize_variant<'de, D: ::serde::Deserializer<'de>>(
                d: D,
            ) -> ::core::result::Result<Self, D::Error> {
                <$t>::deserialize(d)
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                d: D,
            ) -> ::core::result::Result<Self, D::Error> {
                $crate::config::deserialize_tagged(d)
            }
        }
    )+};
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: Tagged> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a table with `type = ` one of {}",
            Names(T::type_names())
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let names = T::type_names();
        match map.next_key::<String>()? {
            Some(k) if k == TAG => {}
            Some(_) => {
                return Err(de::Error::custom(format_args!(
                    "`type` must be the table's first key (one of {})",
                    Names(names)
                )));
            }
            None => return Err(de::Error::missing_field(TAG)),
        }
        // Checked here, inside the value, so the error points at the value.
        let tag = map.next_value_seed(TagSeed(names))?;
        T::deserialize_variant(VariantDeserializer { tag, map })
    }
}

/// `one of `a`, `b``.
struct Names(&'static [&'static str]);

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{n}`")?;
        }
        Ok(())
    }
}

struct TagSeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for TagSeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        let tag = String::deserialize(d)?;
        if !self.0.is_empty() && !self.0.contains(&tag.as_str()) {
            return Err(de::Error::unknown_variant(&tag, self.0));
        }
        Ok(tag)
    }
}

use serde::Deserialize as _;

/// The rest of the table, as the externally tagged enum `{ tag: rest }`.
struct VariantDeserializer<A> {
    tag: String,
    map: A,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for VariantDeserializer<A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> EnumAccess<'de> for VariantDeserializer<A> {
    type Error = A::Error;
    type Variant = Rest<A>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Rest<A>), A::Error> {
        let variant = seed.deserialize(self.tag.into_deserializer())?;
        Ok((variant, Rest(self.map)))
    }
}

/// The table's keys after `type`: the variant's parameters.
struct Rest<A>(A);

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for Rest<A> {
    type Error = A::Error;

    fn unit_variant(mut self) -> Result<(), A::Error> {
        match self.0.next_key_seed(NoKey)? {
            Some(()) | None => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        seed.deserialize(de::value::MapAccessDeserializer::new(self.0))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, A::Error> {
        Err(de::Error::invalid_type(de::Unexpected::Map, &visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }
}

/// A unit variant's table has no key but `type`: any other is unknown (reported at the key).
struct NoKey;

impl<'de> DeserializeSeed<'de> for NoKey {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let key = String::deserialize(d)?;
        Err(de::Error::unknown_field(&key, &[]))
    }
}

/// Reads a derived enum's variant names from its `deserialize_enum` call.
struct VariantsProbe;

#[derive(Debug)]
struct Probed(&'static [&'static str]);

impl fmt::Display for Probed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("variant names probed")
    }
}

impl std::error::Error for Probed {}

impl de::Error for Probed {
    fn custom<M: fmt::Display>(_msg: M) -> Self {
        Self(&[])
    }
}

impl<'de> Deserializer<'de> for VariantsProbe {
    type Error = Probed;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Probed> {
        Err(Probed(&[]))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Probed> {
        Err(Probed(variants))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(remote = "Self", rename_all = "kebab-case")]
    enum Dev {
        Sim,
        Meter(Params),
        Inline { x: u8 },
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        unit: u8,
    }

    crate::tagged_enum!(Dev);

    fn read(json: &str) -> Result<Dev, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn the_variant_reads_the_rest_of_the_table() {
        assert_eq!(read(r#"{"type": "sim"}"#), Ok(Dev::Sim));
        assert_eq!(
            read(r#"{"type": "meter", "unit": 3}"#),
            Ok(Dev::Meter(Params { unit: 3 }))
        );
        assert_eq!(
            read(r#"{"type": "inline", "x": 1}"#),
            Ok(Dev::Inline { x: 1 })
        );
    }

    #[test]
    fn wrong_tables_are_errors() {
        let e = read(r#"{"type": "smart"}"#).unwrap_err();
        assert!(e.starts_with("unknown variant `smart`, expected one of `sim`, `meter`, `inline`"));
        let e = read(r#"{"type": "sim", "unit": 1}"#).unwrap_err();
        assert!(
            e.starts_with("unknown field `unit`, there are no fields"),
            "{e}"
        );
        let e = read(r#"{"type": "meter", "unit": 1, "colour": 2}"#).unwrap_err();
        assert!(
            e.starts_with("unknown field `colour`, expected `unit`"),
            "{e}"
        );
        let e = read(r#"{"type": "meter", "unit": "1"}"#).unwrap_err();
        assert!(
            e.starts_with("invalid type: string \"1\", expected u8"),
            "{e}"
        );
        let e = read(r#"{"unit": 1, "type": "meter"}"#).unwrap_err();
        assert!(e.starts_with("`type` must be the table's first key"), "{e}");
        let e = read(r#"{}"#).unwrap_err();
        assert!(e.starts_with("missing field `type`"), "{e}");
        let e = read(r#"{"type": "meter"}"#).unwrap_err();
        assert!(e.starts_with("missing field `unit`"), "{e}");
    }

    #[test]
    fn type_names_are_listed() {
        use super::Tagged;
        assert_eq!(Dev::type_names(), ["sim", "meter", "inline"]);
    }
}
