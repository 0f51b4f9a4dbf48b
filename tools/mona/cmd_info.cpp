#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "capture/cpu_variant.hpp"
#include "capture/session.hpp"
#include "commands.hpp"
#include "sae/sae.hpp"

namespace mona::cli {

CommandResult cmd_info(const ParsedArgs& args) {
    nlohmann::json out;
    const bool want_sae = args.has("sae");
    const bool want_model = args.has("model") || !want_sae;
    std::string text;
    if (want_model) {
        auto model_path = model_path_arg(args);
        if (!model_path.ok()) return model_path.status();
        auto info = read_model_info(model_path.value());
        if (!info.ok()) return info.status();
        const ModelInfo& m = info.value();
        // The layer select and activations read by default with this model (and no --layer): the built-in SAE's
        // for the built-in model, else n_layer - 1.
        int32_t default_layer = m.n_layer - 1;
        std::string default_why = "n_layer-1";
        if (!args.has("model")) {
            auto sae_layer = default_sae_layer();
            if (!sae_layer.ok()) return sae_layer.status();
            if (sae_layer.value()) {
                default_layer = **sae_layer;
                default_why = "the built-in SAE's layer";
            }
        }
        out["model"] = {{"path", m.path},
                        {"architecture", m.arch},
                        {"name", m.name},
                        {"description", m.desc},
                        {"n_layer", m.n_layer},
                        {"n_embd", m.n_embd},
                        {"n_vocab", m.n_vocab},
                        {"n_ctx_train", m.n_ctx_train},
                        {"n_params", m.n_params},
                        {"size_bytes", m.size_bytes},
                        {"add_bos", m.add_bos},
                        {"chat_template", !m.chat_template.empty()},
                        {"layers_available", fmt::format("0..{}", m.n_layer - 1)},
                        {"default_layer", default_layer},
                        {"weight_buffers", m.weight_buffers}};
        std::string extra_bufts;
        for (const auto& name : cpu_extra_buffer_types()) extra_bufts += (extra_bufts.empty() ? "" : ", ") + name;
        out["cpu_backend"] = {{"features", cpu_backend_features()}, {"extra_buffer_types", cpu_extra_buffer_types()}};
        const CpuVariantState& variant = cpu_variant_state();
        if (variant.dynamic) out["cpu_backend"]["variant"] = {{"tag", variant.tag}, {"path", variant.path}};
        text += fmt::format(
            "model        {}\narchitecture {}\nname         {}\ndescription  {}\nn_layer      {}\nn_embd       {}\n"
            "n_vocab      {}\nparameters   {}\nadd BOS      {}\nchat template {}\nlayers       0..{} "
            "(HF hidden_states[L]; L = llama.cpp l_out-(L-1); default {} = {})\n",
            m.path, m.arch, m.name, m.desc, m.n_layer, m.n_embd, m.n_vocab, m.n_params, m.add_bos ? "yes" : "no",
            m.chat_template.empty() ? "none (use --template plain or a built-in name)" : "present", m.n_layer - 1,
            default_why, default_layer);
        std::string buffers;
        for (const auto& name : m.weight_buffers) buffers += (buffers.empty() ? "" : ", ") + name;
        text += fmt::format("weights in   {}\ncpu backend  {}\nrepack types {} (used with --cpu-repack on)\n", buffers,
                            cpu_backend_features(), extra_bufts.empty() ? "none" : extra_bufts);
        if (variant.dynamic) text += fmt::format("cpu variant  {} ({})\n", variant.tag, variant.path);
    }
    if (want_sae) {
        auto sae = SaeModel::open({args.get("sae")});
        if (!sae.ok()) return sae.status();
        const SaeInfo& s = sae->info();
        out["sae"] = {{"path", s.path},
                      {"format", s.format},
                      {"architecture", s.architecture},
                      {"d_in", s.d_in},
                      {"d_sae", s.d_sae},
                      {"k", s.k},
                      {"dtype", s.dtype},
                      {"subtract_b_dec", s.subtract_b_dec},
                      {"hook", s.hook},
                      {"layer", s.layer ? nlohmann::json(*s.layer) : nlohmann::json(nullptr)},
                      {"weights_file", s.weights_file}};
        if (!text.empty()) text += "\n";
        text += fmt::format(
            "sae          {}\nformat       {}\nactivation   {}\nd_in         {}\nd_sae        {}\nk            {}\n"
            "dtype        {}\nsubtract b_dec {}\nhook         {}\nlayer        {}\n",
            s.path, s.format, s.architecture, s.d_in, s.d_sae, s.k ? std::to_string(s.k) : "-", s.dtype,
            s.subtract_b_dec ? "yes" : "no", s.hook.empty() ? "-" : s.hook,
            s.layer ? fmt::format("{} (HF hidden_states; llama.cpp l_out-{})", *s.layer, *s.layer - 1)
                    : "not recorded");
    }
    if (args.on("json")) {
        std::printf("%s\n", out.dump(2).c_str());
    } else {
        std::fputs(text.c_str(), stdout);
    }
    return {};
}

}  // namespace mona::cli
