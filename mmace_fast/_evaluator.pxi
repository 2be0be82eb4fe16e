# Cython wrappers of the frozen mMACE evaluator (src_cpp/include/mmace/evaluator*.hpp).
# Included at the end of _core.pyx so that its Hamiltonian subclass plugs into MonteCarloCore.
from libcpp.memory cimport shared_ptr
from libcpp.string cimport string
from libcpp.vector cimport vector as cvector


cdef extern from "mmace/evaluator_model.hpp" namespace "mmace":
    cdef cppclass ArrayStore:
        ArrayStore()
        void add_real(const string& name, const double* data, const cvector[int64_t]& shape) except +
        void add_int(const string& name, const int64_t* data, const cvector[int64_t]& shape) except +

    cdef cppclass FrozenModel:
        FrozenModel(const ArrayStore& store) except +
        int n_species()
        int n_channels
        int n_mag
        int l_spin_max
        cbool soc
        cbool centre_spin
        double r_cut
        string describe()


cdef extern from "mmace/evaluator.hpp" namespace "mmace":
    cdef cppclass EvaluatorOptions:
        EvaluatorOptions()
        double bond_tol
        cbool cache_edge_weights

    cdef cppclass EdgeListInput:
        EdgeListInput()
        const int32_t* receiver
        const int32_t* sender
        const int64_t* shifts
        size_t n_edges

    cdef cppclass FrozenMMACE(Hamiltonian):
        FrozenMMACE(shared_ptr[FrozenModel] model, int32_t n_sites, const int64_t* numbers,
                    const double* positions, const double* cell, const EdgeListInput& edges,
                    const double* moments, const EvaluatorOptions& options) except +
        void refresh() except +
        double drift_and_refresh() except +
        size_t n_edges()
        size_t n_bonds()
        size_t geometry_bytes()
        size_t node_cache_bytes()
        size_t scratch_bytes()
        cvector[size_t] last_touched()
        void gradients(double* dE_dm, double* dE_dpos, double* dE_dstrain) except + nogil

    void frozen_site_energies(shared_ptr[FrozenModel] model, int32_t n, const int64_t* numbers,
                              const double* positions, const double* cell,
                              const EdgeListInput& edges, const double* moments, double bond_tol,
                              double* out) except + nogil


cdef class FrozenModelCore:
    """A frozen mMACE model in C++, built from the named arrays of a frozen-model file.

    arrays: mapping name -> numpy array (float64, or integers converted to int64). Every
    array is validated in C++ (shapes, index ranges, consistency); errors raise ValueError.
    """
    cdef shared_ptr[FrozenModel] model

    def __cinit__(self, arrays):
        cdef ArrayStore store
        cdef cvector[int64_t] shape
        cdef double[::1] fv
        cdef int64_t[::1] iv
        for name, value in arrays.items():
            arr = np.asarray(value)
            shape.clear()
            for d in arr.shape:
                shape.push_back(d)
            key = str(name).encode("utf-8")
            if arr.dtype.kind == "f":
                flat = np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)
                fv = flat
                store.add_real(key, &fv[0] if flat.shape[0] > 0 else NULL, shape)
            elif arr.dtype.kind in "iu":
                flat = np.ascontiguousarray(arr, dtype=np.int64).reshape(-1)
                iv = flat
                store.add_int(key, &iv[0] if flat.shape[0] > 0 else NULL, shape)
            else:
                raise TypeError(f"frozen model array {name!r} has unsupported dtype {arr.dtype}")
        self.model.reset(new FrozenModel(store))

    @property
    def n_channels(self):
        return self.model.get().n_channels

    @property
    def r_cut(self):
        return self.model.get().r_cut

    @property
    def soc(self):
        return bool(self.model.get().soc)

    def describe(self):
        return self.model.get().describe().decode("utf-8")

    def site_energies(self, positions, cell, numbers, moments, receiver, sender, shifts,
                      double bond_tol=1e-9):
        """Site energies [n] eV of one structure with the given edge list (receiver i,
        sender j, shifts S: r_ij = x_j - x_i + S @ cell)."""
        pos = np.ascontiguousarray(positions, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] < 1:
            raise ValueError(f"positions has shape {pos.shape}, expected (n, 3) with n >= 1")
        cdef int32_t n = pos.shape[0]
        c = _as_array(cell, (3, 3), "cell")
        z = _as_array(numbers, (n,), "numbers", np.int64)
        m = _as_array(moments, (n, 3), "moments")
        ri = np.ascontiguousarray(receiver, dtype=np.int32).reshape(-1)
        si = np.ascontiguousarray(sender, dtype=np.int32).reshape(-1)
        ne = ri.shape[0]
        sh = _as_array(shifts, (ne, 3), "shifts", np.int64)
        if si.shape[0] != ne:
            raise ValueError("receiver and sender differ in length")
        out = np.empty(n)
        cdef double[:, ::1] pv = pos
        cdef double[:, ::1] cv = c
        cdef int64_t[::1] zv = z
        cdef double[:, ::1] mv = m
        cdef int32_t[::1] rv = ri
        cdef int32_t[::1] sv = si
        cdef int64_t[:, ::1] shv = sh
        cdef double[::1] ov = out
        cdef EdgeListInput edges
        edges.n_edges = ne
        edges.receiver = &rv[0] if ne > 0 else NULL
        edges.sender = &sv[0] if ne > 0 else NULL
        edges.shifts = &shv[0, 0] if ne > 0 else NULL
        with nogil:
            frozen_site_energies(self.model, n, &zv[0], &pv[0, 0], &cv[0, 0], edges, &mv[0, 0],
                                 bond_tol, &ov[0])
        return out


cdef class FrozenMMACECore(HamiltonianBase):
    """Frozen mMACE on a fixed geometry: a Hamiltonian for MonteCarloCore with exact
    incremental energy changes (see src_cpp/include/mmace/evaluator.hpp)."""
    cdef unique_ptr[FrozenMMACE] h
    cdef readonly FrozenModelCore model

    def __cinit__(self, FrozenModelCore model, positions, cell, numbers, receiver, sender,
                  shifts, moments=None, double bond_tol=1e-9, bint cache_edge_weights=False):
        self.model = model
        pos = np.ascontiguousarray(positions, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] < 1:
            raise ValueError(f"positions has shape {pos.shape}, expected (n, 3) with n >= 1")
        cdef int32_t n = pos.shape[0]
        c = _as_array(cell, (3, 3), "cell")
        z = _as_array(numbers, (n,), "numbers", np.int64)
        m = None if moments is None else _as_array(moments, (n, 3), "moments")
        ri = np.ascontiguousarray(receiver, dtype=np.int32).reshape(-1)
        si = np.ascontiguousarray(sender, dtype=np.int32).reshape(-1)
        ne = ri.shape[0]
        sh = _as_array(shifts, (ne, 3), "shifts", np.int64)
        if si.shape[0] != ne:
            raise ValueError("receiver and sender differ in length")
        cdef double[:, ::1] pv = pos
        cdef double[:, ::1] cv = c
        cdef int64_t[::1] zv = z
        cdef double[:, ::1] mv
        cdef const double* mp = NULL
        if m is not None:
            mv = m
            mp = &mv[0, 0]
        cdef int32_t[::1] rv = ri
        cdef int32_t[::1] sv = si
        cdef int64_t[:, ::1] shv = sh
        cdef EdgeListInput edges
        edges.n_edges = ne
        edges.receiver = &rv[0] if ne > 0 else NULL
        edges.sender = &sv[0] if ne > 0 else NULL
        edges.shifts = &shv[0, 0] if ne > 0 else NULL
        cdef EvaluatorOptions opt
        opt.bond_tol = bond_tol
        opt.cache_edge_weights = cache_edge_weights
        self.h.reset(new FrozenMMACE(model.model, n, &zv[0], &pv[0, 0], &cv[0, 0], edges, mp, opt))

    cdef Hamiltonian* ptr(self) except NULL:
        return self.h.get()

    def gradients(self):
        """One reverse pass at the current state: (dE/dm [n, 3] eV/muB, dE/dx [n, 3] eV/A,
        dE/d(strain) [3, 3] eV, under a symmetric strain r -> (1 + eps) r; stress = that /
        volume)."""
        dm = np.empty((self.n_sites, 3))
        dx = np.empty((self.n_sites, 3))
        ds = np.empty((3, 3))
        cdef double[:, ::1] a = dm
        cdef double[:, ::1] b = dx
        cdef double[:, ::1] s = ds
        cdef FrozenMMACE* h = self.h.get()
        with nogil:
            h.gradients(&a[0, 0], &b[0, 0], &s[0, 0])
        return dm, dx, ds

    def propose(self, int32_t i, m_new):
        """Energy change (eV) of moment i -> m_new; follow with accept() or reject()."""
        cdef Vec3 t = self._trial(i, m_new)
        return self.h.get().propose(i, t)

    def accept(self):
        self.h.get().accept()

    def reject(self):
        self.h.get().reject()

    def refresh(self):
        """Recompute every cache from the current moments."""
        self.h.get().refresh()

    def drift_and_refresh(self):
        """max |cached - recomputed| site energy (eV); the caches are refreshed."""
        return self.h.get().drift_and_refresh()

    @property
    def n_edges(self):
        return self.h.get().n_edges()

    @property
    def n_bonds(self):
        """Distinct bonds (geometry caches are stored once per distinct bond)."""
        return self.h.get().n_bonds()

    def memory(self):
        """Bytes of the caches: dict(geometry=, nodes=, scratch=)."""
        cdef FrozenMMACE* p = self.h.get()
        return dict(geometry=int(p.geometry_bytes()), nodes=int(p.node_cache_bytes()),
                    scratch=int(p.scratch_bytes()))

    def last_touched(self):
        """Number of nodes in each level of the last proposal (k, then per layer)."""
        return [int(v) for v in self.h.get().last_touched()]
