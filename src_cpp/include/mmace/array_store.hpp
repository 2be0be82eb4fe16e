// ArrayStore: the named arrays of a frozen model file, handed over by the file reader
// (mmace_fast/export documents the names); the loaders read them with validated shapes.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mmace/types.hpp"

namespace mmace {

// Named arrays handed over by the file reader. Shapes are validated on access.
class ArrayStore {
public:
    void add_real(const std::string& name, const real_t* data, const std::vector<std::int64_t>& shape);
    void add_int(const std::string& name, const std::int64_t* data, const std::vector<std::int64_t>& shape);
    bool has(const std::string& name) const { return entries_.count(name) > 0; }
    // shape entries < 0 match anything; throws InputError naming the array on mismatch
    const std::vector<real_t>& real(const std::string& name, const std::vector<std::int64_t>& shape) const;
    const std::vector<std::int64_t>& ints(const std::string& name, const std::vector<std::int64_t>& shape) const;
    const std::vector<std::int64_t>& shape(const std::string& name) const;
    real_t scalar(const std::string& name) const;
    std::int64_t integer(const std::string& name) const;

private:
    struct Entry {
        bool is_int = false;
        std::vector<real_t> f;
        std::vector<std::int64_t> i;
        std::vector<std::int64_t> shape;
    };
    const Entry& get(const std::string& name, const std::vector<std::int64_t>& shape, bool is_int) const;
    std::map<std::string, Entry> entries_;
};

}  // namespace mmace
