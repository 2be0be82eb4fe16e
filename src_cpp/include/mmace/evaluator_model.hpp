// Frozen mMACE model: every constant read from the exported file (mmace_fast/export/freeze.py
// documents the array names), plus the per-node / per-edge kernels the evaluators share.
// This umbrella header includes one header per part:
//   kernel_clones.hpp          MMACE_KERNEL (function multi-versioning of the hot kernels)
//   small_gemm.hpp             small dense products of the channel mixings
//   array_store.hpp            ArrayStore, the named arrays of the model file
//   node_attr.hpp              NodeAttr (species, magnitude features)
//   block_linear.hpp           BlockLinear, per-l channel mixing
//   attr_linear.hpp            AttrLinear, attribute-dependent mixing (skip connection)
//   mlp.hpp                    Mlp, radial MLP and readout
//   tensor_product.hpp         TensorProduct, the messages
//   symmetric_contraction.hpp  SymmetricContractionF
//   frozen_model.hpp           LayerModel, SpinFeatures, FrozenModel (loader and site / edge kernels)
//   array_view.hpp             bounds-checked (debug builds) views and indexing
//
// Feature layout (internal): a node feature with D components and C channels is stored
// component-major, [D][C] (channels contiguous, the inner, vectorised loop). The torch model
// uses [C][D]; the two only differ in memory order.
// Path weights w [P][C] (path-major); the exported radial MLP / spin weights are in torch's
// channel-major order c * P + p and are permuted once at load time (a relabelling, no
// arithmetic).
#pragma once
#include "mmace/array_store.hpp"
#include "mmace/array_view.hpp"
#include "mmace/attr_linear.hpp"
#include "mmace/block_linear.hpp"
#include "mmace/frozen_model.hpp"
#include "mmace/kernel_clones.hpp"
#include "mmace/mlp.hpp"
#include "mmace/node_attr.hpp"
#include "mmace/small_gemm.hpp"
#include "mmace/symmetric_contraction.hpp"
#include "mmace/tensor_product.hpp"
#include "mmace/types.hpp"
