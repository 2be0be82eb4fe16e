// Non-owning array views and checked indexing, bounds-checked only in debug builds.
//
// ArrayView<T> is a pointer and a size, ArrayView2<T> a rows x cols matrix with a row stride;
// neither owns its memory (the caller's buffer must outlive the view). MMACE_AT(v, i) indexes a
// std::vector / std::array, MMACE_CHECK_INDEX(i, n) checks a bare index.
//
// With MMACE_DEBUG_BOUNDS defined (setup.py: MMACE_DEBUG=1 and MMACE_SANITIZE=1 builds) every
// access checks its index and throws std::out_of_range (IndexError in Python) naming the index,
// the bound and the view or source line. Without it an access is a bare pointer access and
// MMACE_CHECK_INDEX expands to nothing (its arguments are not evaluated): the release build
// (-O3) pays nothing.
//
// Meant for indices that come from the model file or from inputs (loader tables, species,
// neighbour indices, sparse coupling tables), not for the innermost SIMD loops.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace mmace {
namespace detail {

// Out of line and cold, so that a checked access stays small on its fast path.
[[noreturn]] __attribute__((noinline, cold)) inline void bounds_error(long long i, std::size_t n,
                                                                      const char* what,
                                                                      const char* file,
                                                                      int line) {
    std::string msg = "mmace: index " + std::to_string(i) + " out of range [0, " +
                      std::to_string(n) + ")";
    if (what != nullptr) msg += std::string(" in ") + what;
    if (file != nullptr) msg += std::string(" at ") + file + ":" + std::to_string(line);
    throw std::out_of_range(msg);
}

// i in [0, n), else bounds_error (negative indices of signed types included).
template <class I>
inline void check_index(I i, std::size_t n, const char* what, const char* file = nullptr,
                        int line = 0) {
    static_assert(std::is_integral<I>::value, "an index must be an integer");
    bool ok;
    if constexpr (std::is_signed<I>::value)
        ok = i >= 0 && static_cast<std::size_t>(i) < n;
    else
        ok = static_cast<std::size_t>(i) < n;
    if (!ok) bounds_error(static_cast<long long>(i), n, what, file, line);
}

// v[i] of a container with size(), checked (MMACE_AT in debug builds).
template <class Vec, class I>
inline auto checked_at(Vec& v, I i, const char* file, int line) -> decltype(v[0]) {
    check_index(i, v.size(), nullptr, file, line);
    return v[static_cast<std::size_t>(i)];
}

}  // namespace detail

#ifdef MMACE_DEBUG_BOUNDS
#define MMACE_AT(v, i) (::mmace::detail::checked_at((v), (i), __FILE__, __LINE__))
#define MMACE_CHECK_INDEX(i, n) \
    (::mmace::detail::check_index((i), static_cast<std::size_t>(n), #i, __FILE__, __LINE__))
#else
#define MMACE_AT(v, i) ((v)[i])
#define MMACE_CHECK_INDEX(i, n) ((void)0)
#endif

// data[0 .. size), T possibly const.
template <class T>
class ArrayView {
public:
    ArrayView() = default;
    ArrayView(T* data, std::size_t size, const char* what = nullptr) : data_(data), size_(size) {
#ifdef MMACE_DEBUG_BOUNDS
        what_ = what;
#else
        (void)what;
#endif
    }
    // a view of a whole container (std::vector, std::array) with data() and size()
    template <class Vec, class = decltype(static_cast<T*>(std::declval<Vec&>().data()))>
    explicit ArrayView(Vec& v, const char* what = nullptr) : ArrayView(v.data(), v.size(), what) {}

    template <class I>
    T& operator[](I i) const {
#ifdef MMACE_DEBUG_BOUNDS
        detail::check_index(i, size_, what_);
#endif
        return data_[i];
    }
    T* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
#ifdef MMACE_DEBUG_BOUNDS
    const char* what_ = nullptr;
#endif
};

// rows x cols, element (r, c) at data[r * stride + c] (stride >= cols), T possibly const.
template <class T>
class ArrayView2 {
public:
    ArrayView2() = default;
    ArrayView2(T* data, std::size_t rows, std::size_t cols, std::size_t stride,
               const char* what = nullptr)
        : data_(data), rows_(rows), cols_(cols), stride_(stride) {
#ifdef MMACE_DEBUG_BOUNDS
        what_ = what;
#else
        (void)what;
#endif
    }
    // a dense (stride = cols) matrix
    ArrayView2(T* data, std::size_t rows, std::size_t cols, const char* what = nullptr)
        : ArrayView2(data, rows, cols, cols, what) {}

    template <class I, class J>
    T& operator()(I r, J c) const {
#ifdef MMACE_DEBUG_BOUNDS
        detail::check_index(r, rows_, what_);
        detail::check_index(c, cols_, what_);
#endif
        return data_[static_cast<std::size_t>(r) * stride_ + static_cast<std::size_t>(c)];
    }
    template <class I>
    ArrayView<T> row(I r) const {
#ifdef MMACE_DEBUG_BOUNDS
        detail::check_index(r, rows_, what_);
        return ArrayView<T>(data_ + static_cast<std::size_t>(r) * stride_, cols_, what_);
#else
        return ArrayView<T>(data_ + static_cast<std::size_t>(r) * stride_, cols_);
#endif
    }
    T* data() const { return data_; }
    std::size_t rows() const { return rows_; }
    std::size_t cols() const { return cols_; }
    std::size_t stride() const { return stride_; }

private:
    T* data_ = nullptr;
    std::size_t rows_ = 0, cols_ = 0, stride_ = 0;
#ifdef MMACE_DEBUG_BOUNDS
    const char* what_ = nullptr;
#endif
};

}  // namespace mmace
