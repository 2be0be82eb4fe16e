# Cython wrapper of the mean of K Hamiltonians (src_cpp/include/mmace/mean_hamiltonian.hpp): a
# model committee sampled as one chain, each member's energy change of every proposal kept.
# Included at the end of _core.pyx (after _evaluator.pxi, whose cvector it uses).


cdef extern from "mmace/mean_hamiltonian.hpp" namespace "mmace":
    cdef cppclass MeanHamiltonian(Hamiltonian):
        MeanHamiltonian(cvector[Hamiltonian*] members) except +
        int n_members()
        void member_energies(double* out)
        const double* last_deltas()


cdef class MeanHamiltonianCore(HamiltonianBase):
    """E = (1/K) sum_k E_k over K member Hamiltonians (HamiltonianBase wrappers on the same
    sites, kept alive here); the members' moments become member 0's."""
    cdef unique_ptr[MeanHamiltonian] h
    cdef list members

    def __cinit__(self, members):
        cdef cvector[Hamiltonian*] ptrs
        cdef HamiltonianBase m
        self.members = list(members)
        if not self.members:
            raise ValueError("a mean Hamiltonian needs at least one member")
        for obj in self.members:
            if not isinstance(obj, HamiltonianBase):
                raise TypeError(f"members must be Hamiltonian cores, got {type(obj)}")
            m = obj
            ptrs.push_back(m.ptr())
        self.h.reset(new MeanHamiltonian(ptrs))

    cdef Hamiltonian* ptr(self) except NULL:
        return self.h.get()

    @property
    def n_members(self):
        return self.h.get().n_members()

    def member_energies(self):
        """Total energy of each member [K] eV at the current moments."""
        out = np.empty(self.n_members)
        cdef double[::1] ov = out
        self.h.get().member_energies(&ov[0])
        return out

    def last_deltas(self):
        """Each member's energy change [K] eV of the last proposal."""
        cdef const double* d = self.h.get().last_deltas()
        return np.array([d[k] for k in range(self.n_members)])
