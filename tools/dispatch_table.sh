#!/bin/sh
# Dispatches per inference (`onnx-wgpu info --plan`) for every corpus model, next to ORT's node
# count after ENABLE_ALL optimizations (tools/ort_node_count.py), and the peak activation memory
# over the liveness lower bound, for models/, real/ and variants/.
# Usage: tools/dispatch_table.sh BIN [BIN_BEFORE]
C=${ONNX_WGPU_CORPUS:-/work/shared/corpus}
for m in $C/models/* $C/real/* $C/variants/*; do
  n=$(basename $m)
  case $n in
    silero_vad) d="--dim input:0=1 --dim input:1=576 --dim state:1=1" ;;
    silero_vad_op18_ifless) d="--dim batch=1 --dim sequence=576" ;;
    bert_tiny-ort_fused) d="--dim batch=1 --dim sequence=128" ;;
    rapidocr_ppocr_mobile_v2_cls) d="--dim x:0=2 --dim x:2=48 --dim x:3=192" ;;
    rapidocr_ppocrv4_det) d="--dim p2o.DynamicDimension.0=1 --dim p2o.DynamicDimension.1=736 --dim p2o.DynamicDimension.2=960" ;;
    *) d="" ;;
  esac
  plan=$($1 info --plan $d $m/model.onnx 2>&1)
  after=$(echo "$plan" | grep '^stages' | awk '{print $4}')
  peak=$(echo "$plan" | grep '^summary' | awk '{printf "%.3f", $11 / $17}')
  before=""
  [ -n "$2" ] && before=$($2 info --plan $d $m/model.onnx 2>&1 | grep '^stages' | awk '{print $4}')
  ort=$(python3 "$(dirname "$0")/ort_node_count.py" $m/model.onnx 2>/dev/null | awk '{print $2}')
  echo "$n before=${before:-?} after=${after:-?} ort=${ort:-?} peak/bound=${peak:-?}"
done
