// select_example: mona's public C++ API from an installed package (only <mona/mona.hpp>).
//
//   select_example [STORE_DIR]
//       Builds a tiny TopK SAE in memory, encodes three token rows, mean-pools them per "sample" into sparse
//       vectors, writes them to a feature store in STORE_DIR (default: a new folder under $TMPDIR), reads the
//       store back and checks every value. Needs no model; CI runs it (scripts/test.sh).
//   select_example --select MODEL SAE POOL TARGET OUT
//       Runs `mona select` through run_select_job: the TARGET file's exemplars against POOL, outputs in OUT.
// Exit status 0 on success, 1 with a message on stderr otherwise.
#include <mona/mona.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

int fail(const mona::Status& status) {
    std::fprintf(stderr, "select_example: %s\n", status.message().c_str());
    return 1;
}

int fail(const std::string& what) { return fail(mona::internal_error(what)); }

int run_select(char** argv) {
    mona::SelectJobOptions job;
    job.common.model_path = argv[0];
    job.common.sae_path = argv[1];
    job.common.pool_path = argv[2];
    job.common.out_dir = argv[4];
    job.common.command_line = "select_example --select";
    job.targets = {{"", argv[3]}};
    job.count = 3;
    mona::Result<mona::SelectJobResult> result = mona::run_select_job(job);
    if (!result.ok()) return fail(result.status());
    for (const mona::JobTargetResult& target : result->targets) {
        std::printf("target %s: %lld exemplars, %lld selected\n", target.name.c_str(),
                    static_cast<long long>(target.n_exemplars), static_cast<long long>(target.n_selected));
    }
    return 0;
}

// The mean over rows [begin, end) of per-token codes, as a sparse vector with its L1 norm.
mona::SparseVec mean_pool(const mona::SparseCodes& codes, int64_t begin, int64_t end, uint32_t d_sae) {
    std::vector<double> sum(d_sae, 0.0);
    for (int64_t row = begin; row < end; ++row) {
        for (uint64_t pos = codes.offsets[row]; pos < codes.offsets[row + 1]; ++pos)
            sum[codes.idx[pos]] += codes.val[pos];
    }
    mona::SparseVec vec;
    for (uint32_t latent = 0; latent < d_sae; ++latent) {
        if (sum[latent] == 0.0) continue;
        vec.idx.push_back(latent);
        vec.val.push_back(static_cast<float>(sum[latent] / static_cast<double>(end - begin)));
        vec.l1 += vec.val.back();
    }
    return vec;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> messages;
    mona::set_log_callback([&](mona::LogLevel, std::string_view message) { messages.emplace_back(message); });
    if (argc == 7 && std::string_view(argv[1]) == "--select") return run_select(argv + 2);
    if (argc > 2) return fail(std::string("usage: select_example [STORE_DIR] | --select MODEL SAE POOL TARGET OUT"));

    // A TopK SAE with d_in = 2, d_sae = 4, k = 1: latent j reads x0 * w0[j] + x1 * w1[j] (W_enc is [d_in, d_sae]).
    mona::SaeInfo info;
    info.format = "sparsify";
    info.architecture = "topk";
    info.activation = mona::SaeActivation::kTopK;
    info.d_in = 2;
    info.d_sae = 4;
    info.k = 1;
    info.subtract_b_dec = false;
    mona::Result<mona::SaeModel> sae =
        mona::SaeModel::from_params(info, {1, 0, 2, -1, 0, 1, 0, 3}, {0, 0, 0, 0}, {}, {});
    if (!sae.ok()) return fail(sae.status());

    // Three tokens: (1, 0) -> pre (1, 0, 2, -1), latent 2 wins with 2; (0, 1) -> (0, 1, 0, 3), latent 3 with 3;
    // (1, 1) -> (1, 1, 2, 2): latents 2 and 3 tie at 2 and the tie keeps the lower latent, 2.
    const std::vector<float> tokens = {1, 0, 0, 1, 1, 1};
    mona::SparseCodes codes;
    sae->encode(tokens.data(), 3, codes);
    const std::vector<uint32_t> want_idx = {2, 3, 2};
    const std::vector<float> want_val = {2, 3, 2};
    if (codes.n_rows() != 3 || codes.idx != want_idx || codes.val != want_val) {
        return fail(std::string("SaeModel::encode gave unexpected codes"));
    }

    // Two samples: tokens {0, 1} and {2}. Store them, read them back.
    std::string dir;
    if (argc == 2) {
        dir = argv[1];
    } else {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/mona-example-XXXXXX";
        if (mkdtemp(pattern.data()) == nullptr) return fail(std::string("cannot create a temporary folder"));
        dir = pattern + "/store";
    }
    std::vector<mona::StoredSample> samples(2);
    samples[0] = {.record_idx = 0, .source_pos = 0, .id = "first", .n_tokens = 2, .vec = mean_pool(codes, 0, 2, 4)};
    samples[1] = {.record_idx = 1, .source_pos = 1, .id = "second", .n_tokens = 1, .vec = mean_pool(codes, 2, 3, 4)};
    {
        mona::Result<mona::StoreWriter> writer = mona::StoreWriter::open(dir, {.params_json = R"({"example": true})"});
        if (!writer.ok()) return fail(writer.status());
        for (const mona::StoredSample& sample : samples) {
            if (mona::Status status = writer->append(sample); !status.ok()) return fail(status);
        }
        if (mona::Status status = writer->commit(); !status.ok()) return fail(status);
    }
    mona::Result<mona::StoreReader> reader = mona::StoreReader::open(dir);
    if (!reader.ok()) return fail(reader.status());
    if (mona::Status status = reader->verify(); !status.ok()) return fail(status);
    size_t n_read = 0;
    mona::Status status = reader->for_each([&](const mona::StoredSample& sample) -> mona::Status {
        const mona::StoredSample& want = samples[n_read++];
        if (sample.id != want.id || sample.vec.idx != want.vec.idx || sample.vec.val != want.vec.val ||
            sample.vec.l1 != want.vec.l1) {
            return mona::invalid_input("sample " + sample.id + " read back differs from what was written");
        }
        std::printf("%s: %zu latents, l1 %.3f\n", sample.id.c_str(), sample.vec.nnz(), sample.vec.l1);
        return mona::Status();
    });
    if (!status.ok()) return fail(status);
    if (n_read != samples.size()) return fail(std::string("the store holds the wrong number of samples"));
    mona::log_message(mona::LogLevel::kInfo, "example done");
    if (messages.empty() || messages.back() != "example done")
        return fail(std::string("the log callback was not called"));
    std::printf("mona %s: SAE encode and feature store round trip OK (%s)\n", mona::version(), dir.c_str());
    return 0;
}
