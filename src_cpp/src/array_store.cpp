// ArrayStore: the named arrays of a model file, shape-validated on access (see array_store.hpp).
#include "mmace/array_store.hpp"

#include <cmath>
#include <utility>

#include "load_checks.hpp"

namespace mmace {

using detail::fail;
using detail::shape_str;

void ArrayStore::add_real(const std::string& name, const real_t* data,
                          const std::vector<std::int64_t>& shape) {
    Entry e;
    e.shape = shape;
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    e.f.assign(data, data + n);
    for (real_t v : e.f)
        if (!std::isfinite(v)) fail("array '" + name + "' has non-finite values");
    entries_[name] = std::move(e);
}

void ArrayStore::add_int(const std::string& name, const std::int64_t* data,
                         const std::vector<std::int64_t>& shape) {
    Entry e;
    e.is_int = true;
    e.shape = shape;
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    e.i.assign(data, data + n);
    entries_[name] = std::move(e);
}

const ArrayStore::Entry& ArrayStore::get(const std::string& name,
                                         const std::vector<std::int64_t>& shape,
                                         bool is_int) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) fail("missing array '" + name + "'");
    const Entry& e = it->second;
    if (e.is_int != is_int)
        fail("array '" + name + "' should be " + (is_int ? "integer" : "float64"));
    bool ok = e.shape.size() == shape.size();
    for (std::size_t k = 0; ok && k < shape.size(); ++k)
        ok = shape[k] < 0 || shape[k] == e.shape[k];
    if (!ok)
        fail("array '" + name + "' has shape " + shape_str(e.shape) + ", expected " +
             shape_str(shape));
    return e;
}

const std::vector<real_t>& ArrayStore::real(const std::string& name,
                                            const std::vector<std::int64_t>& shape) const {
    return get(name, shape, false).f;
}

const std::vector<std::int64_t>& ArrayStore::ints(const std::string& name,
                                                  const std::vector<std::int64_t>& shape) const {
    return get(name, shape, true).i;
}

const std::vector<std::int64_t>& ArrayStore::shape(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) fail("missing array '" + name + "'");
    return it->second.shape;
}

real_t ArrayStore::scalar(const std::string& name) const { return real(name, {})[0]; }

std::int64_t ArrayStore::integer(const std::string& name) const { return ints(name, {})[0]; }

}  // namespace mmace
