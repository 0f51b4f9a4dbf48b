// The pool's parse-only pass before a model pass (select, eval, embed): a malformed record found after hours of
// embedding is found here in seconds instead, and the task labels the pool carries are known before the pass, so
// a target that no sample is labelled as is reported while the user can still fix the command.
#include <fmt/format.h>

#include <algorithm>

#include "commands.hpp"
#include "io/sample_reader.hpp"
#include "jobs/config.hpp"
#include "jobs/run_support.hpp"
#include "text/formats.hpp"

namespace mona::cli {

Result<PoolCheck> check_pool_records(const std::string& path, InputFormat format, bool skip_bad) {
    const auto start = detail::Clock::now();
    PoolCheck check;
    MONA_TRY(RecordReader reader, RecordReader::open(path));
    RawRecord record;
    while (true) {
        MONA_TRY(bool more, reader.next(record));
        if (!more) break;
        ++check.n_records;
        Result<Sample> sample = parse_sample(record.bytes, format, {path, record.line_no, record.record_idx});
        if (!sample.ok()) {
            if (!skip_bad) {
                return Status(sample.status().code(),
                              sample.status().message() +
                                  " (found by the pool check before the model pass; use --skip-bad to count and skip "
                                  "such records)");
            }
            ++check.n_bad;
            continue;
        }
        ++check.labels[sample->task];
    }
    check.seconds = detail::seconds_since(start);
    return check;
}

std::string describe_labels(const PoolCheck& check) {
    std::vector<std::pair<std::string, int64_t>> labels(check.labels.begin(), check.labels.end());
    std::sort(labels.begin(), labels.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    std::string out;
    const size_t shown = std::min<size_t>(labels.size(), 12);
    for (size_t i = 0; i < shown; ++i) {
        out += fmt::format("{}{} ({})", i == 0 ? "" : ", ",
                           labels[i].first.empty() ? std::string("(none)") : labels[i].first, labels[i].second);
    }
    if (labels.size() > shown) out += fmt::format(" and {} more", labels.size() - shown);
    return out;
}

std::vector<std::string> unlabelled_targets(const SelectConfig& config, const PoolCheck& check) {
    std::vector<std::string> messages;
    for (const auto& target : config.targets) {
        const std::string label = target.label.empty() ? target.name : target.label;
        if (check.labels.count(label) > 0) continue;
        messages.push_back(fmt::format("target '{}': no pool sample is labelled '{}' (the pool's labels: {})",
                                       target.name, label, describe_labels(check)));
    }
    return messages;
}

}  // namespace mona::cli
