// mona._mona: the nanobind module under the Python package `mona` (python/mona/). Thin by design: it exposes the
// public C++ API (include/mona/) as plain functions over dicts and numpy arrays, and python/mona/ makes the
// Pythonic API (input conversion, Selection objects, docstrings) on top.
//
// Threads and the GIL: every call that computes releases the GIL. The jobs run on a worker thread while the
// calling thread waits in 100 ms steps, checking for signals (PyErr_CheckSignals): Ctrl-C sets the job's
// cancel flag (JobCommonOptions::cancelled, polled before each record), the job stops at the next record with
// kCancelled, and KeyboardInterrupt is raised once the worker has finished (so no job outlives its call). The
// progress callback runs on the worker thread with the GIL taken; an exception it raises cancels the job and is
// re-raised by the call.
//
// Errors: a non-ok Status becomes the exception class mona._errors.error_class(code) picks (MonaError and its
// subclasses), built from the message; python/mona/_errors.py parses file, line and field out of it.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mona/mona.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

[[noreturn]] void raise_status(const mona::Status& status) {
    nb::object errors = nb::module_::import_("mona._errors");
    nb::object cls = errors.attr("error_class")(static_cast<int>(status.code()));
    nb::object exc = cls(status.message());
    PyErr_SetObject(cls.ptr(), exc.ptr());
    throw nb::python_error();
}

template <class T>
T unwrap(mona::Result<T> result) {
    if (!result.ok()) raise_status(result.status());
    return std::move(result).value();
}

// A 1-D numpy array that owns `values` (moved into a capsule).
template <class T>
nb::ndarray<nb::numpy, T, nb::ndim<1>> to_numpy(std::vector<T> values) {
    auto* owned = new std::vector<T>(std::move(values));
    nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
    return nb::ndarray<nb::numpy, T, nb::ndim<1>>(owned->data(), {owned->size()}, owner);
}

// ---- options: python/mona/_jobs.py builds a dict with every key; missing keys keep the C++ defaults ----

template <class T>
void take(const nb::dict& d, const char* key, T& out) {
    if (d.contains(key)) {
        nb::object value = d[key];
        if (!value.is_none()) out = nb::cast<T>(value);
    }
}

mona::JobCommonOptions common_options(const nb::dict& d) {
    mona::JobCommonOptions c;
    take(d, "model", c.model_path);
    take(d, "sae", c.sae_path);
    take(d, "pool", c.pool_path);
    take(d, "out", c.out_dir);
    take(d, "layer", c.layer);
    take(d, "k", c.k);
    take(d, "tokens", c.tokens);
    take(d, "pooling", c.pooling);
    take(d, "format", c.format);
    take(d, "template", c.chat_template);
    if (d.contains("system_prompt") && !d["system_prompt"].is_none()) {
        c.system_prompt = nb::cast<std::string>(d["system_prompt"]);
    }
    take(d, "cpu_repack", c.cpu_repack);
    take(d, "max_tokens", c.max_tokens);
    take(d, "batch_tokens", c.batch_tokens);
    take(d, "threads", c.threads);
    take(d, "skip_bad", c.skip_bad);
    take(d, "command_line", c.command_line);
    return c;
}

mona::SelectJobOptions select_options(const nb::dict& d) {
    mona::SelectJobOptions s;
    s.common = common_options(d);
    if (d.contains("targets")) {
        for (nb::handle item : nb::cast<nb::list>(d["targets"])) {
            auto pair = nb::cast<std::pair<std::string, std::string>>(item);
            s.targets.push_back({pair.first, pair.second});
        }
    }
    take(d, "ratio", s.ratio);
    take(d, "count", s.count);
    take(d, "merge", s.merge);
    if (d.contains("quotas")) {
        for (nb::handle item : nb::cast<nb::list>(d["quotas"])) {
            auto pair = nb::cast<std::pair<std::string, double>>(item);
            s.quotas.push_back({pair.first, pair.second});
        }
    }
    take(d, "store", s.store_dir);
    take(d, "store_shard_rows", s.store_shard_rows);
    if (d.contains("labels")) {  // [(target name, pool label)]
        for (nb::handle item : nb::cast<nb::list>(d["labels"])) {
            auto pair = nb::cast<std::pair<std::string, std::string>>(item);
            for (auto& target : s.targets) {
                if (target.name == pair.first) target.label = pair.second;
            }
        }
    }
    take(d, "diversity", s.diversity);
    take(d, "diversity_candidates", s.diversity_candidates);
    take(d, "dedup", s.dedup);
    take(d, "dedup_against", s.dedup_against);
    take(d, "coverage", s.coverage);
    take(d, "prototype", s.prototype);
    take(d, "length_strata", s.length_strata);
    return s;
}

// ---- running a job off the GIL, cancellable ----

// Runs `job(common)` on a worker thread; see the file comment. `progress` is None or a callable taking a dict.
template <class R, class Job>
R run_job(mona::JobCommonOptions& common, nb::handle progress, Job&& job) {
    std::atomic<bool> cancel{false};
    std::optional<nb::python_error> callback_error;  // touched only with the GIL held
    common.cancelled = [&cancel] { return cancel.load(); };
    // No callback: silent (the library's default would log each report to stderr).
    if (progress.is_none()) common.progress = false;
    if (!progress.is_none()) {
        PyObject* fn = progress.ptr();  // borrowed: the caller's frame keeps it alive for the whole call
        common.on_progress = [fn, &cancel, &callback_error](const mona::JobProgress& update) {
            nb::gil_scoped_acquire gil;
            if (callback_error) return;
            try {
                nb::dict info;
                info["stage"] = update.stage;
                info["n_samples"] = update.n_samples;
                info["n_tokens"] = update.n_tokens;
                info["seconds"] = update.seconds;
                info["final"] = update.final;
                info["line"] = update.line;
                nb::handle callback(fn);
                callback(info);
            } catch (nb::python_error& e) {
                callback_error.emplace(std::move(e));
                cancel = true;
            }
        };
    }
    std::optional<mona::Result<R>> result;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    bool interrupted = false;
    {
        nb::gil_scoped_release release;
        std::thread worker([&] {
            mona::Result<R> r = job(common);
            std::lock_guard<std::mutex> lock(mu);
            result.emplace(std::move(r));
            done = true;
            cv.notify_all();
        });
        std::unique_lock<std::mutex> lock(mu);
        while (!done) {
            cv.wait_for(lock, std::chrono::milliseconds(100));
            if (done || interrupted) continue;
            lock.unlock();
            {
                nb::gil_scoped_acquire gil;
                if (PyErr_CheckSignals() != 0) {
                    PyErr_Clear();  // raised again below, once the job has stopped
                    interrupted = true;
                    cancel = true;
                }
            }
            lock.lock();
        }
        lock.unlock();
        worker.join();
    }
    common.cancelled = nullptr;
    common.on_progress = nullptr;
    if (callback_error) {
        nb::python_error e = std::move(*callback_error);
        callback_error.reset();
        throw std::move(e);
    }
    if (interrupted) {
        PyErr_SetNone(PyExc_KeyboardInterrupt);
        throw nb::python_error();
    }
    return unwrap(std::move(*result));
}

nb::dict target_dict(const mona::JobTargetResult& t) {
    nb::dict d;
    d["name"] = t.name;
    d["n_exemplars"] = t.n_exemplars;
    d["n_selected"] = t.n_selected;
    if (!t.precision.empty()) d["precision"] = t.precision;
    if (!t.recall.empty()) d["recall"] = t.recall;
    return d;
}

nb::dict select_result_dict(const mona::SelectJobResult& r) {
    nb::dict d;
    d["n_pool_read"] = r.n_pool_read;
    d["n_pool_skipped"] = r.n_pool_skipped;
    d["n_pool_resumed"] = r.n_pool_resumed;
    d["n_pool_truncated"] = r.n_pool_truncated;
    d["n_pool_tokens"] = r.n_pool_tokens;
    d["n_target_skipped"] = r.n_target_skipped;
    d["layer"] = r.layer;
    nb::list targets;
    for (const auto& t : r.targets) targets.append(target_dict(t));
    d["targets"] = targets;
    d["n_merged"] = r.n_merged;
    d["seconds_total"] = r.seconds_total;
    return d;
}

nb::dict sae_info_dict(const mona::SaeInfo& s) {
    nb::dict d;
    d["path"] = s.path;
    d["format"] = s.format;
    d["architecture"] = s.architecture;
    d["d_in"] = s.d_in;
    d["d_sae"] = s.d_sae;
    d["k"] = s.k;
    d["dtype"] = s.dtype;
    d["subtract_b_dec"] = s.subtract_b_dec;
    d["hook"] = s.hook;
    d["layer"] = s.layer ? nb::cast(*s.layer) : nb::object(nb::none());
    d["weights_file"] = s.weights_file;
    return d;
}

// The SAE, shared by Python objects; encode() may run on several threads at once (mona/sae.hpp).
struct Sae {
    mona::SaeModel model;
};

using Rows = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

nb::tuple sae_encode(const Sae& sae, Rows x, int32_t k) {
    const int64_t d_in = sae.model.info().d_in;
    if (static_cast<int64_t>(x.shape(1)) != d_in) {
        raise_status(mona::invalid_input("x: " + std::to_string(x.shape(1)) + " columns, the SAE's d_in is " +
                                         std::to_string(d_in)));
    }
    if (k < 0) raise_status(mona::invalid_input("k: must be >= 0 (0 = the SAE's own k)"));
    mona::SparseCodes codes;
    {
        nb::gil_scoped_release release;
        sae.model.encode(x.shape(0) == 0 ? nullptr : x.data(), static_cast<int64_t>(x.shape(0)), codes, k);
    }
    return nb::make_tuple(to_numpy(std::move(codes.offsets)), to_numpy(std::move(codes.idx)),
                          to_numpy(std::move(codes.val)));
}

template <class T>
std::vector<T> vec_of(const nb::ndarray<const T, nb::ndim<1>, nb::device::cpu>& a) {
    std::vector<T> v(a.shape(0));
    for (size_t i = 0; i < v.size(); ++i) v[i] = a(i);
    return v;
}

using U64s = nb::ndarray<const uint64_t, nb::ndim<1>, nb::device::cpu>;
using U32s = nb::ndarray<const uint32_t, nb::ndim<1>, nb::device::cpu>;
using F32s = nb::ndarray<const float, nb::ndim<1>, nb::device::cpu>;

}  // namespace

NB_MODULE(_mona, m) {
    m.doc() = "mona's C++ core (internal: use the `mona` package)";
    m.def("version", [] { return std::string(mona::version()); });
    m.def("default_model_file", &mona::default_model_file);
    m.def("default_sae_folder", &mona::default_sae_folder);

    m.def(
        "model_info",
        [](const std::string& path) {
            mona::Result<mona::ModelSummary> r = [&] {
                nb::gil_scoped_release release;
                return mona::read_model_summary(path);
            }();
            const mona::ModelSummary s = unwrap(std::move(r));
            nb::dict d;
            d["path"] = s.path;
            d["architecture"] = s.architecture;
            d["name"] = s.name;
            d["description"] = s.description;
            d["n_layer"] = s.n_layer;
            d["n_embd"] = s.n_embd;
            d["n_vocab"] = s.n_vocab;
            d["n_ctx_train"] = s.n_ctx_train;
            d["n_params"] = s.n_params;
            d["size_bytes"] = s.size_bytes;
            d["add_bos"] = s.add_bos;
            d["has_chat_template"] = s.has_chat_template;
            return d;
        },
        "path"_a);

    nb::class_<Sae>(m, "Sae")
        .def_static(
            "open",
            [](const std::string& path) {
                mona::Result<mona::SaeModel> r = [&] {
                    nb::gil_scoped_release release;
                    return mona::SaeModel::open({path});
                }();
                return Sae{unwrap(std::move(r))};
            },
            "path"_a)
        .def("info", [](const Sae& sae) { return sae_info_dict(sae.model.info()); })
        .def("encode", &sae_encode, "x"_a, "k"_a = 0,
             "Encodes rows x [n, d_in] float32 (C order); returns CSR (offsets[n+1], indices, values).");

    m.def(
        "pool",
        [](U64s offsets, U32s idx, F32s val, int64_t row_begin, int64_t row_end, int64_t d_sae,
           const std::string& pooling) {
            mona::SparseCodes codes;
            codes.offsets = vec_of(offsets);
            codes.idx = vec_of(idx);
            codes.val = vec_of(val);
            mona::SparseVec v = unwrap(mona::pool_codes(codes, row_begin, row_end, d_sae, pooling));
            return nb::make_tuple(to_numpy(std::move(v.idx)), to_numpy(std::move(v.val)), v.l1);
        },
        "offsets"_a, "indices"_a, "values"_a, "row_begin"_a, "row_end"_a, "d_sae"_a, "pooling"_a);

    m.def(
        "jaccard",
        [](U32s a_idx, F32s a_val, double a_l1, U32s b_idx, F32s b_val, double b_l1) {
            if (a_idx.shape(0) != a_val.shape(0) || b_idx.shape(0) != b_val.shape(0)) {
                raise_status(mona::invalid_input("jaccard: indices and values differ in length"));
            }
            mona::SparseVec a{vec_of(a_idx), vec_of(a_val), a_l1};
            mona::SparseVec b{vec_of(b_idx), vec_of(b_val), b_l1};
            for (const mona::SparseVec* v : {&a, &b}) {
                for (size_t i = 1; i < v->idx.size(); ++i) {
                    if (v->idx[i] <= v->idx[i - 1]) {
                        raise_status(mona::invalid_input("jaccard: indices must be strictly increasing"));
                    }
                }
            }
            return mona::jaccard(a, b);
        },
        "a_indices"_a, "a_values"_a, "a_l1"_a, "b_indices"_a, "b_values"_a, "b_l1"_a);

    m.def(
        "run_select",
        [](const nb::dict& options, nb::handle progress) {
            mona::SelectJobOptions o = select_options(options);
            mona::SelectJobResult r = run_job<mona::SelectJobResult>(
                o.common, progress, [&o](const mona::JobCommonOptions&) { return mona::run_select_job(o); });
            return select_result_dict(r);
        },
        "options"_a, "progress"_a.none());

    m.def(
        "run_score",
        [](const nb::dict& options, const std::vector<std::string>& stores, nb::handle progress) {
            mona::ScoreJobOptions o;
            o.select = select_options(options);
            o.store_dirs = stores;
            mona::SelectJobResult r = run_job<mona::SelectJobResult>(
                o.select.common, progress, [&o](const mona::JobCommonOptions&) { return mona::run_score_job(o); });
            return select_result_dict(r);
        },
        "options"_a, "stores"_a, "progress"_a.none());

    m.def(
        "run_embed",
        [](const nb::dict& options, nb::handle progress) {
            mona::EmbedJobOptions o;
            o.common = common_options(options);
            take(options, "keep", o.keep);
            take(options, "values", o.values);
            take(options, "shard_rows", o.shard_rows);
            mona::EmbedJobResult r = run_job<mona::EmbedJobResult>(
                o.common, progress, [&o](const mona::JobCommonOptions&) { return mona::run_embed_job(o); });
            nb::dict d;
            d["n_embedded"] = r.n_embedded;
            d["n_resumed"] = r.n_resumed;
            d["n_skipped"] = r.n_skipped;
            d["n_truncated"] = r.n_truncated;
            d["store_size"] = r.store_size;
            d["bytes_on_disk"] = r.bytes_on_disk;
            return d;
        },
        "options"_a, "progress"_a.none());

    m.def(
        "run_activations",
        [](const nb::dict& options, nb::handle progress) {
            mona::ActivationsJobOptions o;
            o.common = common_options(options);
            take(options, "with_sae", o.with_sae);
            mona::ActivationsResult r = run_job<mona::ActivationsResult>(
                o.common, progress, [&o](const mona::JobCommonOptions&) { return mona::run_activations_job(o); });
            nb::list samples;
            for (mona::SampleActivations& a : r.samples) {
                nb::dict d;
                d["id"] = a.id;
                d["n_prompt"] = a.n_prompt;
                const size_t n_tokens = a.tokens.size();
                d["tokens"] = to_numpy(std::move(a.tokens));
                auto* rows = new std::vector<float>(std::move(a.residual));
                nb::capsule owner(rows, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
                d["residual"] = nb::ndarray<nb::numpy, float, nb::ndim<2>>(
                    rows->data(), {n_tokens, static_cast<size_t>(r.n_embd)}, owner);
                if (o.with_sae) {
                    d["code_offsets"] = to_numpy(std::move(a.codes.offsets));
                    d["code_indices"] = to_numpy(std::move(a.codes.idx));
                    d["code_values"] = to_numpy(std::move(a.codes.val));
                    d["pooled"] = nb::make_tuple(to_numpy(std::move(a.pooled.idx)), to_numpy(std::move(a.pooled.val)),
                                                 a.pooled.l1);
                }
                samples.append(d);
            }
            nb::dict d;
            d["layer"] = r.layer;
            d["n_embd"] = r.n_embd;
            d["llama_tensor"] = r.llama_tensor;
            d["samples"] = samples;
            return d;
        },
        "options"_a, "progress"_a.none());

    m.def(
        "run_eval",
        [](const nb::dict& options, nb::handle progress) {
            mona::EvalJobOptions o;
            o.select = select_options(options);
            take(options, "methods", o.methods);
            take(options, "seed", o.seed);
            take(options, "n_latents", o.n_latents);
            take(options, "n_latent_samples", o.n_latent_samples);
            mona::EvalJobResult r = run_job<mona::EvalJobResult>(
                o.select.common, progress, [&o](const mona::JobCommonOptions&) { return mona::run_eval_job(o); });
            nb::dict d;
            d["methods"] = r.methods;
            d["n_pool_read"] = r.n_pool_read;
            d["n_pool_skipped"] = r.n_pool_skipped;
            d["n_pool_truncated"] = r.n_pool_truncated;
            d["n_select"] = r.n_select;
            d["layer"] = r.layer;
            nb::list targets;
            for (const auto& t : r.targets) targets.append(target_dict(t));
            d["targets"] = targets;
            d["seconds_total"] = r.seconds_total;
            return d;
        },
        "options"_a, "progress"_a.none());
}
