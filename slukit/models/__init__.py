"""Keras layers and the `JointSLU` model. Written with `keras.ops` only, so they
run on any Keras backend (TensorFlow on CPUs, JAX on GPUs)."""
