// sae/sae.cpp: SAE loading and encoding (include/mona/sae.hpp).
//
// Why ~750 lines: most of it is the config rules of the two on-disk families (sparsify and SAELens, with its
// pre-6 configs), each a list of fields with their errors; the encoder itself is the last ~100 lines.
#include "sae/sae.hpp"

#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "io/safetensors.hpp"
#include "sae/topk.hpp"

namespace mona {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kCfgFile = "cfg.json";
constexpr const char* kSparsifyWeights = "sae.safetensors";
constexpr const char* kSaelensWeights = "sae_weights.safetensors";

constexpr int64_t kMaxChunkRows = 256;
constexpr int64_t kChunkFloats = int64_t{8} << 20;  // 32 MB of pre-activations per chunk

// Parses a non-empty run of decimal digits that fits an int32; anything else is nullopt.
std::optional<int32_t> parse_index(std::string_view s) {
    if (s.empty() || s.size() > 9) return std::nullopt;
    int32_t value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    return value;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Natural order ("layers.2" < "layers.10") for listing layer folders in messages.
bool natural_less(const std::string& a, const std::string& b) {
    size_t pos_a = 0;
    size_t pos_b = 0;
    while (pos_a < a.size() && pos_b < b.size()) {
        const bool digit_a = std::isdigit(static_cast<unsigned char>(a[pos_a])) != 0;
        const bool digit_b = std::isdigit(static_cast<unsigned char>(b[pos_b])) != 0;
        if (digit_a && digit_b) {
            size_t end_a = pos_a;
            size_t end_b = pos_b;
            while (end_a < a.size() && std::isdigit(static_cast<unsigned char>(a[end_a]))) ++end_a;
            while (end_b < b.size() && std::isdigit(static_cast<unsigned char>(b[end_b]))) ++end_b;
            std::string_view num_a = std::string_view(a).substr(pos_a, end_a - pos_a);
            std::string_view num_b = std::string_view(b).substr(pos_b, end_b - pos_b);
            while (num_a.size() > 1 && num_a[0] == '0') num_a.remove_prefix(1);
            while (num_b.size() > 1 && num_b[0] == '0') num_b.remove_prefix(1);
            if (num_a.size() != num_b.size()) return num_a.size() < num_b.size();
            if (num_a != num_b) return num_a < num_b;
            pos_a = end_a;
            pos_b = end_b;
        } else {
            if (a[pos_a] != b[pos_b]) return a[pos_a] < b[pos_b];
            ++pos_a;
            ++pos_b;
        }
    }
    return a.size() - pos_a < b.size() - pos_b;
}

const char* json_type_name(const json& value) {
    if (value.is_number_integer()) return "integer";
    if (value.is_number_float()) return "number";
    return value.type_name();
}

// ---- cfg.json access: every error names the file and the field.

class Cfg {
   public:
    Cfg(json doc, std::string path) : doc_(std::move(doc)), path_(std::move(path)) {}

    const std::string& path() const { return path_; }
    const json& doc() const { return doc_; }

    // A missing key and an explicit null both read as absent.
    const json* find(const json& obj, const std::string& key) const {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null()) return nullptr;
        return &*it;
    }

    Result<std::optional<int64_t>> opt_int(const std::string& key, const json* obj = nullptr,
                                           const std::string& prefix = "") const {
        const json* value = find(obj ? *obj : doc_, key);
        if (value == nullptr) return std::optional<int64_t>();
        if (value->is_number_integer()) return std::optional<int64_t>(value->get<int64_t>());
        if (value->is_number_float()) {
            const double d = value->get<double>();
            if (std::floor(d) == d && std::fabs(d) < 9e15) return std::optional<int64_t>(static_cast<int64_t>(d));
        }
        return field_error(prefix + key, "integer", *value);
    }

    Result<std::optional<bool>> opt_bool(const std::string& key) const {
        const json* value = find(doc_, key);
        if (value == nullptr) return std::optional<bool>();
        if (value->is_boolean()) return std::optional<bool>(value->get<bool>());
        return field_error(key, "boolean", *value);
    }

    Result<std::optional<std::string>> opt_string(const std::string& key, const json* obj = nullptr,
                                                  const std::string& prefix = "") const {
        const json* value = find(obj ? *obj : doc_, key);
        if (value == nullptr) return std::optional<std::string>();
        if (value->is_string()) return std::optional<std::string>(value->get<std::string>());
        return field_error(prefix + key, "string", *value);
    }

    // An integer field that must be present and >= min_value.
    Result<int64_t> required_int(const std::string& key, int64_t min_value) const {
        MONA_TRY(std::optional<int64_t> value, opt_int(key));
        if (!value) return invalid_input(path_ + ": missing field '" + key + "' (expected an integer)");
        return check_min(key, *value, min_value);
    }

    Result<int64_t> int_or(const std::string& key, int64_t fallback, int64_t min_value) const {
        MONA_TRY(std::optional<int64_t> value, opt_int(key));
        if (!value) return fallback;
        return check_min(key, *value, min_value);
    }

    Result<int64_t> check_min(const std::string& key, int64_t value, int64_t min_value) const {
        if (value < min_value || value > INT32_MAX) {
            return invalid_input(path_ + ": field '" + key + "': expected an integer in " + std::to_string(min_value) +
                                 ".." + std::to_string(INT32_MAX) + ", found " + std::to_string(value));
        }
        return value;
    }

    Status field_error(const std::string& key, const char* expected, const json& found) const {
        return invalid_input(path_ + ": field '" + key + "': expected " + expected + ", found " +
                             json_type_name(found) + " " + found.dump());
    }

   private:
    json doc_;
    std::string path_;
};

Result<Cfg> read_cfg(const fs::path& file) {
    const std::string path = file.string();
    std::ifstream in(file, std::ios::binary);
    if (!in) return io_error(path + ": cannot open for reading");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return io_error(path + ": read failed");
    json doc;
    try {
        doc = json::parse(text.str());
    } catch (const json::exception& e) {
        return invalid_input(path + ": invalid JSON: " + e.what());
    }
    if (!doc.is_object()) return invalid_input(path + ": expected a JSON object, found " + json_type_name(doc));
    return Cfg(std::move(doc), path);
}

// ---- tensor access: every error names the weights file, the tensor, expected and found shapes.

// A NaN or infinite weight would turn every code it touches into NaN, and NaN scores rank arbitrarily: refuse the
// file, naming the first bad element ([row, column] of the tensor as stored).
Status check_finite(const SafetensorsFile& file, const std::string& name, const std::vector<float>& values,
                    int64_t row_width) {
    for (size_t value_idx = 0; value_idx < values.size(); ++value_idx) {
        const float v = values[value_idx];
        if (std::isfinite(v)) continue;
        const std::string where = row_width > 0
                                      ? "[" + std::to_string(value_idx / static_cast<size_t>(row_width)) + ", " +
                                            std::to_string(value_idx % static_cast<size_t>(row_width)) + "]"
                                      : "[" + std::to_string(value_idx) + "]";
        return invalid_input(file.path() + ": tensor '" + name + "': element " + where + " is " +
                             (std::isnan(v) ? "NaN"
                              : v > 0       ? "+Inf"
                                            : "-Inf") +
                             "; SAE weights must be finite (a diverged or corrupted training run?)");
    }
    return Status::ok_status();
}

Result<std::vector<float>> read_vector(const SafetensorsFile& file, const std::string& name, int64_t length,
                                       const std::string& length_name) {
    auto it = file.tensors().find(name);
    if (it == file.tensors().end()) {
        return invalid_input(file.path() + ": missing tensor '" + name + "' (expected shape [" +
                             std::to_string(length) + "] = [" + length_name + "])");
    }
    const std::vector<int64_t>& shape = it->second.shape;
    if (shape.size() != 1 || shape[0] != length) {
        return invalid_input(file.path() + ": tensor '" + name + "': expected shape [" + std::to_string(length) +
                             "] = [" + length_name + "], found " + shape_string(shape));
    }
    MONA_TRY(std::vector<float> values, file.read_f32(name));
    MONA_RETURN_IF_ERROR(check_finite(file, name, values, 0));
    return values;
}

struct EncoderMatrix {
    std::vector<float> data;
    bool latent_major = false;  // stored [d_sae, d_in] rather than [d_in, d_sae]
    std::string dtype;
};

// Reads the encoder matrix and resolves its orientation by shape; `documented_latent_major` decides a square one.
Result<EncoderMatrix> read_encoder(const SafetensorsFile& file, const std::string& name, int64_t d_in, int64_t d_sae,
                                   bool documented_latent_major) {
    const std::string documented =
        documented_latent_major ? "[d_sae, d_in] = [" + std::to_string(d_sae) + ", " + std::to_string(d_in) + "]"
                                : "[d_in, d_sae] = [" + std::to_string(d_in) + ", " + std::to_string(d_sae) + "]";
    auto it = file.tensors().find(name);
    if (it == file.tensors().end()) {
        return invalid_input(file.path() + ": missing tensor '" + name + "' (expected shape " + documented + ")");
    }
    const std::vector<int64_t>& shape = it->second.shape;
    const bool is_latent_major = shape.size() == 2 && shape[0] == d_sae && shape[1] == d_in;
    const bool is_input_major = shape.size() == 2 && shape[0] == d_in && shape[1] == d_sae;
    if (!is_latent_major && !is_input_major) {
        return invalid_input(file.path() + ": tensor '" + name + "': expected shape " + documented +
                             " (or its transpose), found " + shape_string(shape));
    }
    EncoderMatrix matrix;
    matrix.latent_major = (is_latent_major && is_input_major) ? documented_latent_major : is_latent_major;
    matrix.dtype = it->second.dtype;
    MONA_TRY(matrix.data, file.read_f32(name));
    MONA_RETURN_IF_ERROR(check_finite(file, name, matrix.data, shape[1]));
    return matrix;
}

// Loaded parameters before they become a model.
struct Params {
    SaeInfo info;
    EncoderMatrix w_enc;
    std::vector<float> b_enc;
    std::vector<float> b_dec;
    std::vector<float> threshold;
};

Result<Params> load_sparsify(const fs::path& folder) {
    MONA_TRY(Cfg cfg, read_cfg(folder / kCfgFile));
    MONA_TRY(const int64_t d_in, cfg.required_int("d_in", 1));
    MONA_TRY(const int64_t expansion_factor, cfg.int_or("expansion_factor", 32, 1));
    MONA_TRY(const int64_t num_latents, cfg.int_or("num_latents", 0, 0));
    MONA_TRY(const int64_t k, cfg.int_or("k", 32, 1));
    MONA_TRY(std::optional<std::string> activation, cfg.opt_string("activation"));
    MONA_TRY(std::optional<bool> transcode, cfg.opt_bool("transcode"));
    if (activation && *activation != "topk") {
        return unsupported(cfg.path() + ": field 'activation': '" + *activation +
                           "' is not supported (supported: topk)");
    }
    const int64_t d_sae = num_latents > 0 ? num_latents : d_in * expansion_factor;
    if (d_sae > INT32_MAX) {
        return invalid_input(cfg.path() + ": d_in * expansion_factor = " + std::to_string(d_sae) + " is too large");
    }

    Params params;
    SaeInfo& info = params.info;
    info.path = folder.string();
    info.format = "sparsify";
    info.architecture = "topk";
    info.activation = SaeActivation::kTopK;
    info.norm = SaeNorm::kNone;
    info.d_in = d_in;
    info.d_sae = d_sae;
    info.k = static_cast<int32_t>(k);
    info.subtract_b_dec = !transcode.value_or(false);
    info.weights_file = (folder / kSparsifyWeights).string();
    info.hook = folder.filename().string();
    info.layer = layer_from_sparsify_folder(info.hook);

    MONA_TRY(SafetensorsFile file, SafetensorsFile::open(info.weights_file));
    MONA_TRY(params.w_enc, read_encoder(file, "encoder.weight", d_in, d_sae, /*documented_latent_major=*/true));
    info.dtype = params.w_enc.dtype;
    MONA_TRY(params.b_enc, read_vector(file, "encoder.bias", d_sae, "d_sae"));
    if (info.subtract_b_dec) {
        MONA_TRY(params.b_dec, read_vector(file, "b_dec", d_in, "d_in"));
    }
    return params;
}

Result<Params> load_saelens(const fs::path& folder) {
    MONA_TRY(Cfg cfg, read_cfg(folder / kCfgFile));
    MONA_TRY(const int64_t d_in, cfg.required_int("d_in", 1));
    MONA_TRY(const int64_t d_sae, cfg.required_int("d_sae", 1));
    MONA_TRY(std::optional<std::string> architecture, cfg.opt_string("architecture"));
    MONA_TRY(std::optional<std::string> activation_fn_str, cfg.opt_string("activation_fn_str"));
    if (!activation_fn_str) {
        MONA_TRY(activation_fn_str, cfg.opt_string("activation_fn"));
    }

    Params params;
    SaeInfo& info = params.info;
    info.path = folder.string();
    info.format = "saelens";
    info.d_in = d_in;
    info.d_sae = d_sae;
    info.weights_file = (folder / kSaelensWeights).string();

    const std::string arch = architecture.value_or("standard");
    std::optional<int64_t> k;
    const json* kwargs = cfg.find(cfg.doc(), "activation_fn_kwargs");
    if (kwargs != nullptr && !kwargs->is_object()) return cfg.field_error("activation_fn_kwargs", "object", *kwargs);
    if (arch == "standard") {
        const std::string act = activation_fn_str.value_or("relu");
        if (act == "relu") {
            info.architecture = "standard";
            info.activation = SaeActivation::kRelu;
        } else if (act == "topk") {
            // Pre-6 cfgs describe a TopK SAE as architecture standard + activation_fn_str topk.
            info.architecture = "topk";
            info.activation = SaeActivation::kReluTopK;
            if (kwargs != nullptr) {
                MONA_TRY(k, cfg.opt_int("k", kwargs, "activation_fn_kwargs."));
            }
            if (!k) {
                MONA_TRY(k, cfg.opt_int("k"));
            }
            if (!k) {
                return invalid_input(cfg.path() +
                                     ": activation_fn_str is 'topk' but field 'activation_fn_kwargs.k' is missing");
            }
        } else {
            return unsupported(cfg.path() + ": field 'activation_fn_str': '" + act +
                               "' is not supported (supported: relu, topk)");
        }
    } else if (arch == "topk") {
        info.architecture = "topk";
        info.activation = SaeActivation::kReluTopK;
        MONA_TRY(k, cfg.opt_int("k"));
        if (!k && kwargs != nullptr) {
            MONA_TRY(k, cfg.opt_int("k", kwargs, "activation_fn_kwargs."));
        }
        if (!k) k = 100;  // SAELens TopKSAEConfig default
    } else if (arch == "jumprelu") {
        info.architecture = "jumprelu";
        info.activation = SaeActivation::kJumpRelu;
    } else {
        return unsupported(cfg.path() + ": field 'architecture': '" + arch +
                           "' is not supported (supported: standard, topk, jumprelu)");
    }
    if (k) {
        MONA_TRY(const int64_t checked_k, cfg.check_min("k", *k, 1));
        info.k = static_cast<int32_t>(checked_k);
    }

    MONA_TRY(std::optional<bool> rescale_by_decoder_norm, cfg.opt_bool("rescale_acts_by_decoder_norm"));
    if (rescale_by_decoder_norm.value_or(false)) {
        return unsupported(cfg.path() +
                           ": field 'rescale_acts_by_decoder_norm' is true; that needs the decoder norms, which mona "
                           "does not load");
    }
    MONA_TRY(std::optional<std::string> reshape, cfg.opt_string("reshape_activations"));
    if (reshape && *reshape != "none") {
        return unsupported(cfg.path() + ": field 'reshape_activations': '" + *reshape +
                           "' is not supported (supported: none)");
    }
    MONA_TRY(std::optional<bool> apply_b_dec, cfg.opt_bool("apply_b_dec_to_input"));
    info.subtract_b_dec = apply_b_dec.value_or(true);

    std::string norm = "none";
    if (const json* value = cfg.find(cfg.doc(), "normalize_activations"); value != nullptr) {
        if (value->is_boolean()) {
            norm = value->get<bool>() ? "expected_average_only_in" : "none";  // pre-6 bool form
        } else if (value->is_string()) {
            norm = value->get<std::string>();
        } else {
            return cfg.field_error("normalize_activations", "string or boolean", *value);
        }
    }
    if (norm == "none") {
        info.norm = SaeNorm::kNone;
    } else if (norm == "constant_norm_rescale") {
        info.norm = SaeNorm::kConstantNormRescale;
    } else if (norm == "expected_average_only_in") {
        return unsupported(cfg.path() +
                           ": field 'normalize_activations': 'expected_average_only_in' needs a dataset-wide "
                           "scale that is not stored in the SAE folder; fold it into the weights first (SAELens "
                           "fold_activation_norm_scaling_factor, then save_model) and set it to 'none'");
    } else if (norm == "layer_norm") {
        return unsupported(cfg.path() +
                           ": field 'normalize_activations': 'layer_norm' is not supported (supported: none, "
                           "constant_norm_rescale)");
    } else {
        return unsupported(cfg.path() + ": field 'normalize_activations': '" + norm +
                           "' is not supported (supported: none, constant_norm_rescale)");
    }

    // v6+ keeps hook_name under metadata; pre-6 cfgs keep it (or hook_point) at the top level.
    MONA_TRY(std::optional<std::string> hook_name, cfg.opt_string("hook_name"));
    if (!hook_name) {
        if (const json* metadata = cfg.find(cfg.doc(), "metadata"); metadata != nullptr && metadata->is_object()) {
            MONA_TRY(hook_name, cfg.opt_string("hook_name", metadata, "metadata."));
        }
    }
    if (!hook_name) {
        MONA_TRY(hook_name, cfg.opt_string("hook_point"));
    }
    MONA_TRY(std::optional<int64_t> hook_layer, cfg.opt_int("hook_layer"));
    if (hook_layer && (*hook_layer < 0 || *hook_layer > 100000)) {
        return invalid_input(cfg.path() + ": field 'hook_layer': expected a layer index >= 0, found " +
                             std::to_string(*hook_layer));
    }
    info.hook = hook_name.value_or("");
    info.layer = layer_from_saelens_hook(
        info.hook, hook_layer ? std::optional<int32_t>(static_cast<int32_t>(*hook_layer)) : std::nullopt);

    MONA_TRY(SafetensorsFile file, SafetensorsFile::open(info.weights_file));
    MONA_TRY(params.w_enc, read_encoder(file, "W_enc", d_in, d_sae, /*documented_latent_major=*/false));
    info.dtype = params.w_enc.dtype;
    MONA_TRY(params.b_enc, read_vector(file, "b_enc", d_sae, "d_sae"));
    if (info.subtract_b_dec) {
        MONA_TRY(params.b_dec, read_vector(file, "b_dec", d_in, "d_in"));
    }
    if (info.activation == SaeActivation::kJumpRelu) {
        MONA_TRY(params.threshold, read_vector(file, "threshold", d_sae, "d_sae"));
    }
    return params;
}

bool is_layer_folder_name(const std::string& name) { return layer_from_sparsify_folder(name).has_value(); }

std::string files_looked_for() {
    return std::string(kCfgFile) + " + " + kSparsifyWeights + " (sparsify) or " + kCfgFile + " + " + kSaelensWeights +
           " (saelens)";
}

// Resolves options.path to the folder that holds the SAE files.
Result<fs::path> resolve_folder(const std::string& path) {
    if (path.empty()) return invalid_input("SAE path is empty");
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (status.type() == fs::file_type::not_found) return not_found(path + ": no such file or folder");
    if (ec) return io_error(path + ": cannot access: " + ec.message());
    fs::path folder = fs::is_directory(status) ? fs::path(path) : fs::path(path).parent_path();
    if (folder.empty()) folder = ".";
    folder = fs::absolute(folder, ec).lexically_normal();
    if (ec) return io_error(path + ": cannot make the path absolute: " + ec.message());
    if (folder.has_parent_path() && folder.filename().empty()) folder = folder.parent_path();

    auto holds_sae_file = [](const fs::path& dir) {
        std::error_code exists_ec;
        return fs::exists(dir / kCfgFile, exists_ec) || fs::exists(dir / kSparsifyWeights, exists_ec) ||
               fs::exists(dir / kSaelensWeights, exists_ec);
    };
    if (holds_sae_file(folder)) return folder;

    std::vector<std::string> layer_dirs;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code dir_ec;
        if (it->is_directory(dir_ec) && is_layer_folder_name(it->path().filename().string())) {
            layer_dirs.push_back(it->path().filename().string());
        }
    }
    if (ec) return io_error(folder.string() + ": cannot list folder: " + ec.message());
    if (layer_dirs.size() == 1) return folder / layer_dirs[0];
    if (layer_dirs.size() > 1) {
        std::sort(layer_dirs.begin(), layer_dirs.end(), natural_less);
        std::string list;
        for (const std::string& name : layer_dirs) list += (list.empty() ? "" : ", ") + name;
        return invalid_input(folder.string() + ": holds " + std::to_string(layer_dirs.size()) + " SAE layer folders (" +
                             list + "); point the SAE path at one of them");
    }
    return not_found(folder.string() + ": no SAE found; looked for " + files_looked_for() +
                     ", or a single layers.N subfolder holding them");
}

}  // namespace

std::optional<int32_t> layer_from_sparsify_folder(const std::string& folder_name) {
    std::optional<int32_t> index;
    if (starts_with(folder_name, "layers.")) {
        index = parse_index(std::string_view(folder_name).substr(7));
    } else if (starts_with(folder_name, "layer_")) {
        index = parse_index(std::string_view(folder_name).substr(6));
    }
    if (!index) return std::nullopt;
    return *index + 1;
}

std::optional<int32_t> layer_from_saelens_hook(const std::string& hook_name, std::optional<int32_t> hook_layer) {
    const std::string_view hook = hook_name;
    if (starts_with(hook, "blocks.")) {
        const std::string_view rest = hook.substr(7);
        const size_t dot = rest.find('.');
        if (dot != std::string_view::npos) {
            const std::optional<int32_t> index = parse_index(rest.substr(0, dot));
            const std::string_view point = rest.substr(dot + 1);
            if (index && point == "hook_resid_post") return *index + 1;
            if (index && point == "hook_resid_pre") return *index;
        }
    }
    if (starts_with(hook, "model.layers.")) {
        const std::optional<int32_t> index = parse_index(hook.substr(13));
        if (index) return *index + 1;
    }
    if (hook_layer && *hook_layer >= 0) {
        if (hook.find("hook_resid_post") != std::string_view::npos) return *hook_layer + 1;
        if (hook.find("hook_resid_pre") != std::string_view::npos) return *hook_layer;
    }
    return std::nullopt;
}

struct SaeModel::Impl {
    SaeInfo info;
    std::vector<float> w_enc;  // [d_in, d_sae], or [d_sae, d_in] when latent_major
    bool latent_major = false;
    std::vector<float> b_enc;      // [d_sae]
    std::vector<float> b_dec;      // [d_in], empty unless info.subtract_b_dec
    std::vector<float> threshold;  // [d_sae], empty unless kJumpRelu
};

namespace {

bool is_topk(SaeActivation activation) {
    return activation == SaeActivation::kTopK || activation == SaeActivation::kReluTopK;
}

Status validate_params(const SaeInfo& info, size_t n_w_enc, size_t n_b_enc, size_t n_b_dec, size_t n_threshold) {
    const std::string where = "SAE " + (info.path.empty() ? std::string("(in memory)") : info.path);
    if (info.d_in < 1 || info.d_in > INT32_MAX || info.d_sae < 1 || info.d_sae > INT32_MAX) {
        return invalid_input(where + ": widths d_in = " + std::to_string(info.d_in) +
                             ", d_sae = " + std::to_string(info.d_sae) + " must be in 1.." + std::to_string(INT32_MAX));
    }
    const auto d_in = static_cast<uint64_t>(info.d_in);
    const auto d_sae = static_cast<uint64_t>(info.d_sae);
    if (n_w_enc != d_in * d_sae) {
        return invalid_input(where + ": W_enc has " + std::to_string(n_w_enc) +
                             " values, expected d_in x d_sae = " + std::to_string(d_in * d_sae));
    }
    if (n_b_enc != d_sae) {
        return invalid_input(where + ": b_enc has " + std::to_string(n_b_enc) +
                             " values, expected d_sae = " + std::to_string(d_sae));
    }
    if (info.subtract_b_dec ? n_b_dec != d_in : (n_b_dec != 0 && n_b_dec != d_in)) {
        return invalid_input(where + ": b_dec has " + std::to_string(n_b_dec) +
                             " values, expected d_in = " + std::to_string(d_in));
    }
    if (info.activation == SaeActivation::kJumpRelu && n_threshold != d_sae) {
        return invalid_input(where + ": threshold has " + std::to_string(n_threshold) +
                             " values, expected d_sae = " + std::to_string(d_sae));
    }
    if (is_topk(info.activation) && info.k < 1) {
        return invalid_input(where + ": TopK k = " + std::to_string(info.k) + ", expected >= 1");
    }
    return Status::ok_status();
}

}  // namespace

SaeModel::SaeModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SaeModel::SaeModel(SaeModel&&) noexcept = default;
SaeModel& SaeModel::operator=(SaeModel&&) noexcept = default;
SaeModel::~SaeModel() = default;

const SaeInfo& SaeModel::info() const { return impl_->info; }

SaeModel::EncoderView SaeModel::encoder_view() const {
    const Impl& impl = *impl_;
    return EncoderView{impl.w_enc.data(), impl.latent_major, impl.b_enc.data(),
                       impl.info.subtract_b_dec && !impl.b_dec.empty() ? impl.b_dec.data() : nullptr,
                       impl.info.activation == SaeActivation::kJumpRelu ? impl.threshold.data() : nullptr};
}

Result<SaeModel> SaeModel::from_params(SaeInfo info, std::vector<float> w_enc, std::vector<float> b_enc,
                                       std::vector<float> b_dec, std::vector<float> threshold) {
    MONA_RETURN_IF_ERROR(validate_params(info, w_enc.size(), b_enc.size(), b_dec.size(), threshold.size()));
    try {
        auto impl = std::make_unique<Impl>();
        impl->info = std::move(info);
        impl->w_enc = std::move(w_enc);
        impl->latent_major = false;
        impl->b_enc = std::move(b_enc);
        if (impl->info.subtract_b_dec) impl->b_dec = std::move(b_dec);
        if (impl->info.activation == SaeActivation::kJumpRelu) impl->threshold = std::move(threshold);
        if (!is_topk(impl->info.activation)) impl->info.k = 0;
        return SaeModel(std::move(impl));
    } catch (const std::bad_alloc&) {
        return internal_error("SAE: out of memory building the model");
    }
}

namespace {

// Detects the format from the files present and loads it.
Result<Params> load_folder(const fs::path& folder) {
    std::error_code ec;
    const bool has_cfg = fs::exists(folder / kCfgFile, ec);
    const bool has_sparsify = fs::exists(folder / kSparsifyWeights, ec);
    const bool has_saelens = fs::exists(folder / kSaelensWeights, ec);
    if (!has_cfg) {
        std::string found;
        if (has_sparsify) found = std::string(" (found ") + kSparsifyWeights + ")";
        if (has_saelens) found = std::string(" (found ") + kSaelensWeights + ")";
        return not_found(folder.string() + ": missing " + kCfgFile + found + "; looked for " + files_looked_for());
    }
    if (!has_sparsify && !has_saelens) {
        return not_found(folder.string() + ": has " + kCfgFile + " but neither " + kSparsifyWeights +
                         " (sparsify) nor " + kSaelensWeights + " (saelens)");
    }
    return has_saelens ? load_saelens(folder) : load_sparsify(folder);
}

}  // namespace

Result<SaeModel> SaeModel::open(const SaeOpenOptions& options) {
    try {
        MONA_TRY(const fs::path folder, resolve_folder(options.path));
        MONA_TRY(Params params, load_folder(folder));
        MONA_RETURN_IF_ERROR(validate_params(params.info, params.w_enc.data.size(), params.b_enc.size(),
                                             params.b_dec.size(), params.threshold.size()));
        auto impl = std::make_unique<Impl>();
        impl->info = std::move(params.info);
        impl->w_enc = std::move(params.w_enc.data);
        impl->latent_major = params.w_enc.latent_major;
        impl->b_enc = std::move(params.b_enc);
        impl->b_dec = std::move(params.b_dec);
        impl->threshold = std::move(params.threshold);
        return SaeModel(std::move(impl));
    } catch (const std::bad_alloc&) {
        return internal_error(options.path + ": out of memory loading the SAE");
    } catch (const std::exception& e) {
        return internal_error(options.path + ": unexpected error loading the SAE: " + e.what());
    }
}

namespace {

// The encoder's matrix product runs on one BLAS thread. OpenBLAS splits a product among its threads by rows and
// columns, and the split (so the kernels that compute the edge blocks) changes the last bits of the result with
// the thread count, which differs between machines and under mpirun (one core per rank). mona's vectors must be
// the same bytes everywhere; callers encode one sample per call, so rows are never split by batch either.
class OneBlasThread {
   public:
    OneBlasThread() {
#ifdef OPENBLAS_VERSION
        previous_ = openblas_get_num_threads();
        if (previous_ != 1) openblas_set_num_threads(1);
#endif
    }
    ~OneBlasThread() {
#ifdef OPENBLAS_VERSION
        if (previous_ != 1) openblas_set_num_threads(previous_);
#endif
    }
    OneBlasThread(const OneBlasThread&) = delete;
    OneBlasThread& operator=(const OneBlasThread&) = delete;

   private:
    int previous_ = 1;
};

}  // namespace

void SaeModel::encode(const float* x, int64_t n_tokens, SparseCodes& out, int32_t k_override) const {
    MONA_ASSERT(n_tokens >= 0, "SaeModel::encode called with a negative token count");
    MONA_ASSERT(x != nullptr || n_tokens == 0, "SaeModel::encode called with null input");
    if (n_tokens == 0) return;
    const Impl& impl = *impl_;
    const SaeInfo& info = impl.info;
    const int64_t d_in = info.d_in;
    const int64_t d_sae = info.d_sae;
    const bool topk = is_topk(info.activation);
    const int64_t k = topk ? (k_override > 0 ? k_override : info.k) : 0;
    const int64_t chunk_rows = std::clamp<int64_t>(kChunkFloats / d_sae, 1, kMaxChunkRows);
    const float sqrt_d_in = static_cast<float>(std::sqrt(static_cast<double>(d_in)));

    std::vector<float> input(static_cast<size_t>(std::min(chunk_rows, n_tokens) * d_in));
    std::vector<float> pre(static_cast<size_t>(std::min(chunk_rows, n_tokens) * d_sae));
    LatentTopK top(static_cast<size_t>(k));  // ties keep the lower latent index (sae/topk.hpp)

    const OneBlasThread one_blas_thread;
    for (int64_t row_begin = 0; row_begin < n_tokens; row_begin += chunk_rows) {
        const int64_t n_rows = std::min(chunk_rows, n_tokens - row_begin);
        for (int64_t row_idx = 0; row_idx < n_rows; ++row_idx) {
            const float* src = x + (row_begin + row_idx) * d_in;
            float* dst = input.data() + row_idx * d_in;
            float scale = 1.0f;
            if (info.norm == SaeNorm::kConstantNormRescale) {
                double sum_sq = 0.0;
                for (int64_t dim_idx = 0; dim_idx < d_in; ++dim_idx) sum_sq += double{src[dim_idx]} * src[dim_idx];
                const double norm = std::sqrt(sum_sq);
                if (norm > 0.0 && std::isfinite(norm)) scale = static_cast<float>(sqrt_d_in / norm);
            }
            if (info.subtract_b_dec) {
                for (int64_t dim_idx = 0; dim_idx < d_in; ++dim_idx) {
                    dst[dim_idx] = src[dim_idx] * scale - impl.b_dec[dim_idx];
                }
            } else {
                for (int64_t dim_idx = 0; dim_idx < d_in; ++dim_idx) dst[dim_idx] = src[dim_idx] * scale;
            }
            std::memcpy(pre.data() + row_idx * d_sae, impl.b_enc.data(), sizeof(float) * d_sae);
        }
        // pre [n_rows, d_sae] = input [n_rows, d_in] @ W_enc [d_in, d_sae] + b_enc
        cblas_sgemm(CblasRowMajor, CblasNoTrans, impl.latent_major ? CblasTrans : CblasNoTrans,
                    static_cast<int>(n_rows), static_cast<int>(d_sae), static_cast<int>(d_in), 1.0f, input.data(),
                    static_cast<int>(d_in), impl.w_enc.data(), static_cast<int>(impl.latent_major ? d_in : d_sae), 1.0f,
                    pre.data(), static_cast<int>(d_sae));

        for (int64_t row_idx = 0; row_idx < n_rows; ++row_idx) {
            const float* row = pre.data() + row_idx * d_sae;
            if (topk) {
                // Only positive values survive the ReLU on either side of TopK, so selecting among them gives
                // both TopK(ReLU(pre)) and ReLU(TopK(pre)) once zeros are dropped.
                top.reset(static_cast<size_t>(k));
                for (int64_t latent_idx = 0; latent_idx < d_sae; ++latent_idx) {
                    if (row[latent_idx] > 0.0f) top.offer(row[latent_idx], static_cast<uint32_t>(latent_idx));
                }
                for (const LatentValue& kept : top.sort_by_latent()) {
                    out.idx.push_back(kept.latent_idx);
                    out.val.push_back(kept.value);
                }
            } else if (info.activation == SaeActivation::kJumpRelu) {
                for (int64_t latent_idx = 0; latent_idx < d_sae; ++latent_idx) {
                    const float value = row[latent_idx];
                    if (value > 0.0f && value > impl.threshold[latent_idx]) {
                        out.idx.push_back(static_cast<uint32_t>(latent_idx));
                        out.val.push_back(value);
                    }
                }
            } else {
                for (int64_t latent_idx = 0; latent_idx < d_sae; ++latent_idx) {
                    if (row[latent_idx] > 0.0f) {
                        out.idx.push_back(static_cast<uint32_t>(latent_idx));
                        out.val.push_back(row[latent_idx]);
                    }
                }
            }
            out.offsets.push_back(out.idx.size());
        }
    }
}

}  // namespace mona
