//! Reading decoded JSON objects field by field, with the path of each field for errors and
//! strict rejection of fields the schema does not have. This module never performs I/O.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{FieldPath, PolicyError, Problem};

/// A [`PolicyError::Invalid`] at `path`.
pub(super) fn invalid(path: &FieldPath, problem: Problem) -> PolicyError {
    PolicyError::Invalid {
        path: path.clone(),
        problem,
    }
}

/// One element of a list, with its path.
pub(super) struct Item<'a> {
    pub(super) index: usize,
    pub(super) value: &'a Value,
    pub(super) path: FieldPath,
}

/// A JSON object being read: remembers which fields were read so `finish` can reject the rest.
pub(super) struct Object<'a> {
    map: &'a Map<String, Value>,
    pub(super) path: FieldPath,
    read: Vec<&'static str>,
}

impl<'a> Object<'a> {
    pub(super) fn new(value: &'a Value, path: &FieldPath) -> Result<Self, PolicyError> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                path: path.clone(),
                read: Vec::new(),
            }),
            _ => Err(invalid(
                path,
                Problem::WrongType {
                    expected: "an object",
                },
            )),
        }
    }

    /// Rejects, before anything is read, a field outside `fields`: a misspelt field is then
    /// reported as unknown rather than as the required field it was meant to be.
    pub(super) fn known(self, fields: &[&str]) -> Result<Self, PolicyError> {
        match self.map.keys().find(|key| !fields.contains(&key.as_str())) {
            Some(unknown) => Err(invalid(
                &self.path.field_owned(unknown),
                Problem::UnknownField,
            )),
            None => Ok(self),
        }
    }

    /// The field's value; `null` counts as absent, as in Kubernetes.
    pub(super) fn value(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read.push(key);
        self.map.get(key).filter(|value| !value.is_null())
    }

    pub(super) fn skip(&mut self, key: &'static str) {
        self.read.push(key);
    }

    pub(super) fn string(&mut self, key: &'static str) -> Result<Option<String>, PolicyError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(invalid(
                &self.path.field(key),
                Problem::WrongType {
                    expected: "a string",
                },
            )),
        }
    }

    /// A string that must be present and non-empty.
    pub(super) fn required_string(&mut self, key: &'static str) -> Result<String, PolicyError> {
        match self.string(key)? {
            Some(text) if !text.is_empty() => Ok(text),
            _ => Err(invalid(&self.path.field(key), Problem::Missing)),
        }
    }

    pub(super) fn bool(&mut self, key: &'static str) -> Result<Option<bool>, PolicyError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(_) => Err(invalid(
                &self.path.field(key),
                Problem::WrongType {
                    expected: "true or false",
                },
            )),
        }
    }

    pub(super) fn object(&mut self, key: &'static str) -> Result<Option<Object<'a>>, PolicyError> {
        let path = self.path.field(key);
        self.value(key)
            .map(|value| Object::new(value, &path))
            .transpose()
    }

    pub(super) fn string_map(
        &mut self,
        key: &'static str,
    ) -> Result<BTreeMap<String, String>, PolicyError> {
        let path = self.path.field(key);
        let Some(value) = self.value(key) else {
            return Ok(BTreeMap::new());
        };
        let Value::Object(map) = value else {
            return Err(invalid(
                &path,
                Problem::WrongType {
                    expected: "an object",
                },
            ));
        };
        map.iter()
            .map(|(name, value)| match value {
                Value::String(text) => Ok((name.clone(), text.clone())),
                _ => Err(invalid(
                    &path.field_owned(name),
                    Problem::WrongType {
                        expected: "a string",
                    },
                )),
            })
            .collect()
    }

    /// A list that may be absent (empty).
    pub(super) fn optional_list<T>(
        &mut self,
        key: &'static str,
        mut each: impl FnMut(Item<'a>) -> Result<T, PolicyError>,
    ) -> Result<Vec<T>, PolicyError> {
        let path = self.path.field(key);
        let Some(value) = self.value(key) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = value else {
            return Err(invalid(&path, Problem::WrongType { expected: "a list" }));
        };
        items
            .iter()
            .enumerate()
            .map(|(index, value)| {
                each(Item {
                    index,
                    value,
                    path: path.index(index),
                })
            })
            .collect()
    }

    /// A list with at least one entry.
    pub(super) fn required_list<T>(
        &mut self,
        key: &'static str,
        each: impl FnMut(Item<'a>) -> Result<T, PolicyError>,
    ) -> Result<Vec<T>, PolicyError> {
        let list = self.optional_list(key, each)?;
        if list.is_empty() {
            return Err(invalid(&self.path.field(key), Problem::Empty));
        }
        Ok(list)
    }

    /// Rejects any field that was not read.
    pub(super) fn finish(self) -> Result<(), PolicyError> {
        match self
            .map
            .keys()
            .find(|key| !self.read.contains(&key.as_str()))
        {
            Some(unknown) => Err(invalid(
                &self.path.field_owned(unknown),
                Problem::UnknownField,
            )),
            None => Ok(()),
        }
    }
}
