# Cython wrappers of the frozen mMACE evaluator (src_cpp/include/mmace/evaluator*.hpp).
# Included at the end of _core.pyx so that its Hamiltonian subclass plugs into MonteCarloCore.
