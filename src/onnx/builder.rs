//! A small ONNX model writer: the embedded default model, the tests' hand-built graphs and the
//! hostile-model cases are all written with it, so none of them are copied from elsewhere.

use super::proto::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::tensor_proto::from_tensor;
use crate::tensor::{DType, Tensor};
use prost::Message;

/// An attribute value for [`ModelBuilder::node`].
#[derive(Clone, Debug)]
pub enum Attr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    Str(String),
    Tensor(Tensor),
}

impl From<i64> for Attr {
    fn from(v: i64) -> Attr {
        Attr::Int(v)
    }
}
impl From<f32> for Attr {
    fn from(v: f32) -> Attr {
        Attr::Float(v)
    }
}
impl From<Vec<i64>> for Attr {
    fn from(v: Vec<i64>) -> Attr {
        Attr::Ints(v)
    }
}
impl From<Vec<f32>> for Attr {
    fn from(v: Vec<f32>) -> Attr {
        Attr::Floats(v)
    }
}
impl From<&str> for Attr {
    fn from(v: &str) -> Attr {
        Attr::Str(v.to_string())
    }
}
impl From<Tensor> for Attr {
    fn from(v: Tensor) -> Attr {
        Attr::Tensor(v)
    }
}

fn attribute(name: &str, a: &Attr) -> AttributeProto {
    let mut p = AttributeProto { name: Some(name.to_string()), ..Default::default() };
    let ty = match a {
        Attr::Int(v) => {
            p.i = Some(*v);
            AttributeType::Int
        }
        Attr::Float(v) => {
            p.f = Some(*v);
            AttributeType::Float
        }
        Attr::Ints(v) => {
            p.ints = v.clone();
            AttributeType::Ints
        }
        Attr::Floats(v) => {
            p.floats = v.clone();
            AttributeType::Floats
        }
        Attr::Str(v) => {
            p.s = Some(v.as_bytes().to_vec());
            AttributeType::String
        }
        Attr::Tensor(t) => {
            p.t = Some(from_tensor("", t));
            AttributeType::Tensor
        }
    };
    p.r#type = Some(ty as i32);
    p
}

/// A declared dim for graph inputs: a size or a symbolic name.
#[derive(Clone, Debug)]
pub enum DimSpec {
    Size(i64),
    Name(String),
}

/// Builds a single-graph model.
#[derive(Clone, Debug, Default)]
pub struct ModelBuilder {
    pub model: ModelProto,
}

impl ModelBuilder {
    /// A model importing ai.onnx at `opset`.
    pub fn new(opset: i64) -> Self {
        let model = ModelProto {
            ir_version: Some(if opset >= 21 { 10 } else { 8 }),
            producer_name: Some("onnx-wgpu".into()),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(opset) }],
            graph: Some(GraphProto { name: Some("graph".into()), ..Default::default() }),
            ..Default::default()
        };
        ModelBuilder { model }
    }

    pub fn graph(&mut self) -> &mut GraphProto {
        self.model.graph.as_mut().unwrap()
    }

    /// Declares a graph input with concrete dims.
    pub fn input(&mut self, name: &str, dtype: DType, dims: &[usize]) -> &mut Self {
        let d: Vec<DimSpec> = dims.iter().map(|&x| DimSpec::Size(x as i64)).collect();
        self.input_dims(name, dtype, &d)
    }

    /// Declares a graph input with sizes and/or symbolic names.
    pub fn input_dims(&mut self, name: &str, dtype: DType, dims: &[DimSpec]) -> &mut Self {
        let vi = value_info(name, Some((dtype, Some(dims))));
        self.graph().input.push(vi);
        self
    }

    pub fn initializer(&mut self, name: &str, t: Tensor) -> &mut Self {
        self.graph().initializer.push(from_tensor(name, &t));
        self
    }

    /// Adds a node named after its first output.
    pub fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) -> &mut Self {
        self.node_in("", op, inputs, outputs, attrs)
    }

    /// Adds a node of another domain.
    pub fn node_in(
        &mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: &[(&str, Attr)],
    ) -> &mut Self {
        let n = NodeProto {
            name: Some(format!("{}_{}", op, outputs.first().copied().unwrap_or(""))),
            op_type: Some(op.to_string()),
            domain: Some(domain.to_string()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute: attrs.iter().map(|(k, v)| attribute(k, v)).collect(),
            ..Default::default()
        };
        self.graph().node.push(n);
        self
    }

    /// Declares a graph output (the shape is a hint: the engine infers its own).
    pub fn output(&mut self, name: &str, dtype: DType, dims: &[usize]) -> &mut Self {
        let d: Vec<DimSpec> = dims.iter().map(|&x| DimSpec::Size(x as i64)).collect();
        self.output_dims(name, dtype, &d)
    }

    /// Declares a graph output with sizes and/or symbolic names.
    pub fn output_dims(&mut self, name: &str, dtype: DType, dims: &[DimSpec]) -> &mut Self {
        let vi = value_info(name, Some((dtype, Some(dims))));
        self.graph().output.push(vi);
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.model.encode_to_vec()
    }
}

fn value_info(name: &str, ty: Option<(DType, Option<&[DimSpec]>)>) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: ty.map(|(dtype, dims)| TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(dtype.onnx_code()),
                shape: dims.map(|dims| TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| tensor_shape_proto::Dimension {
                            value: Some(match d {
                                DimSpec::Size(s) => tensor_shape_proto::dimension::Value::DimValue(*s),
                                DimSpec::Name(n) => tensor_shape_proto::dimension::Value::DimParam(n.clone()),
                            }),
                            denotation: None,
                        })
                        .collect(),
                }),
            })),
            denotation: None,
        }),
        ..Default::default()
    }
}
