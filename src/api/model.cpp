// mona/model.hpp: the public face of capture/session.hpp's read_model_info and util/home.hpp's default paths.
#include "mona/model.hpp"

#include "capture/session.hpp"
#include "util/home.hpp"

namespace mona {

Result<ModelSummary> read_model_summary(const std::string& path) {
    MONA_TRY(const ModelInfo info, read_model_info(path.empty() ? default_model_path() : path));
    return ModelSummary{.path = info.path,
                        .architecture = info.arch,
                        .name = info.name,
                        .description = info.desc,
                        .n_layer = info.n_layer,
                        .n_embd = info.n_embd,
                        .n_vocab = info.n_vocab,
                        .n_ctx_train = info.n_ctx_train,
                        .n_params = info.n_params,
                        .size_bytes = info.size_bytes,
                        .add_bos = info.add_bos,
                        .has_chat_template = !info.chat_template.empty()};
}

std::string default_model_file() { return default_model_path(); }
std::string default_sae_folder() { return default_sae_dir(); }

}  // namespace mona
