//! Node attributes of every ONNX type, decoded once at import, with typed getters that report
//! a wrong-typed attribute as an error instead of ignoring it.

use super::proto::{attribute_proto::AttributeType, AttributeProto, GraphProto, TypeProto};
use super::tensor_proto::{to_tensor, ExternalBase};
use crate::error::Result;
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// One decoded attribute value.
#[derive(Clone, Debug)]
pub enum AttrValue {
    Float(f32),
    Int(i64),
    String(Vec<u8>),
    Tensor(Tensor),
    Graph(Box<GraphProto>),
    SparseTensor,
    TypeProto(Box<TypeProto>),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Vec<u8>>),
    Tensors(Vec<Tensor>),
    Graphs(Vec<GraphProto>),
    SparseTensors,
    TypeProtos(Vec<TypeProto>),
}

impl AttrValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            AttrValue::Float(_) => "float",
            AttrValue::Int(_) => "int",
            AttrValue::String(_) => "string",
            AttrValue::Tensor(_) => "tensor",
            AttrValue::Graph(_) => "graph",
            AttrValue::SparseTensor => "sparse_tensor",
            AttrValue::TypeProto(_) => "type_proto",
            AttrValue::Floats(_) => "floats",
            AttrValue::Ints(_) => "ints",
            AttrValue::Strings(_) => "strings",
            AttrValue::Tensors(_) => "tensors",
            AttrValue::Graphs(_) => "graphs",
            AttrValue::SparseTensors => "sparse_tensors",
            AttrValue::TypeProtos(_) => "type_protos",
        }
    }
}

/// Decodes one AttributeProto. The `type` field decides; old writers that omit it are
/// handled by looking at which field is set.
pub fn decode(a: &AttributeProto, base: &ExternalBase<'_>, max_elements: usize) -> Result<AttrValue, String> {
    use AttributeType as T;
    let ty = match a.r#type.and_then(|t| AttributeType::try_from(t).ok()) {
        Some(T::Undefined) | None => {
            if a.f.is_some() {
                T::Float
            } else if a.i.is_some() {
                T::Int
            } else if a.s.is_some() {
                T::String
            } else if a.t.is_some() {
                T::Tensor
            } else if a.g.is_some() {
                T::Graph
            } else if !a.floats.is_empty() {
                T::Floats
            } else if !a.ints.is_empty() {
                T::Ints
            } else if !a.strings.is_empty() {
                T::Strings
            } else if !a.tensors.is_empty() {
                T::Tensors
            } else if !a.graphs.is_empty() {
                T::Graphs
            } else {
                return Err("attribute has no type and no value".into());
            }
        }
        Some(t) => t,
    };
    let tensor = |t: &super::proto::TensorProto| to_tensor(t, base, max_elements).map_err(|e| e.to_string());
    Ok(match ty {
        T::Float => AttrValue::Float(a.f()),
        T::Int => AttrValue::Int(a.i()),
        T::String => AttrValue::String(a.s().to_vec()),
        T::Tensor => AttrValue::Tensor(tensor(a.t.as_ref().ok_or("tensor attribute without a tensor")?)?),
        T::Graph => AttrValue::Graph(Box::new(a.g.clone().ok_or("graph attribute without a graph")?)),
        T::SparseTensor => AttrValue::SparseTensor,
        T::TypeProto => AttrValue::TypeProto(Box::new(a.tp.clone().unwrap_or_default())),
        T::Floats => AttrValue::Floats(a.floats.clone()),
        T::Ints => AttrValue::Ints(a.ints.clone()),
        T::Strings => AttrValue::Strings(a.strings.clone()),
        T::Tensors => AttrValue::Tensors(a.tensors.iter().map(tensor).collect::<Result<_, _>>()?),
        T::Graphs => AttrValue::Graphs(a.graphs.clone()),
        T::SparseTensors => AttrValue::SparseTensors,
        T::TypeProtos => AttrValue::TypeProtos(a.type_protos.clone()),
        T::Undefined => unreachable!(),
    })
}

/// A node's attributes by name.
#[derive(Clone, Debug, Default)]
pub struct Attrs {
    pub map: BTreeMap<String, AttrValue>,
}

macro_rules! getter {
    ($name:ident, $opt:ident, $variant:ident, $t:ty, $conv:expr) => {
        /// The attribute if present; an error if it has another type.
        pub fn $opt(&self, key: &str) -> Result<Option<$t>, String> {
            match self.map.get(key) {
                None => Ok(None),
                Some(AttrValue::$variant(v)) => Ok(Some($conv(v))),
                Some(other) => {
                    Err(format!("attribute '{key}' must be {}, got {}", stringify!($name), other.type_name()))
                }
            }
        }
        /// The attribute, or `default` when absent; an error if it has another type.
        pub fn $name(&self, key: &str, default: $t) -> Result<$t, String> {
            Ok(self.$opt(key)?.unwrap_or(default))
        }
    };
}

impl Attrs {
    getter!(float, opt_float, Float, f32, |v: &f32| *v);
    getter!(int, opt_int, Int, i64, |v: &i64| *v);
    getter!(floats, opt_floats, Floats, Vec<f32>, |v: &Vec<f32>| v.clone());
    getter!(ints, opt_ints, Ints, Vec<i64>, |v: &Vec<i64>| v.clone());
    getter!(tensor, opt_tensor, Tensor, Tensor, |v: &Tensor| v.clone());

    pub fn opt_string(&self, key: &str) -> Result<Option<String>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(AttrValue::String(v)) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            Some(other) => Err(format!("attribute '{key}' must be string, got {}", other.type_name())),
        }
    }
    pub fn string(&self, key: &str, default: &str) -> Result<String, String> {
        Ok(self.opt_string(key)?.unwrap_or_else(|| default.to_string()))
    }
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.map.get(key)
    }
}
