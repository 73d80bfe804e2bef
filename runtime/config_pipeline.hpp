// Reading the pipelines of agency.yaml (docs/PIPELINES.md): pipeline.stages
// (the fleet's default), pipelines.<name>.stages and projects[].pipeline.
// Each list is checked as it is read (stage names, bounce targets, the
// landing stage); what needs the whole file (every role a stage names is a
// role of the file or a built-in one, every project's pipeline exists) is
// checked by check() once the file is read. Errors come from the Reader:
// the file, the line, the key's path.
#pragma once

#include <string>
#include <vector>

#include "runtime/config.hpp"
#include "runtime/config_reader.hpp"
#include "runtime/pipeline.hpp"

namespace agency::config {

class PipelineReader {
 public:
  explicit PipelineReader(Reader& reader) : reader_(reader) {}

  // A list of stages; `name` names the pipeline.
  //   stages: [planner, builder, {stage: lint, role: linter}, adversary, reviewer, integrator]
  pipeline::Pipeline stages(const Reader::Item& list, const std::string& name);
  // The `pipelines:` section: name -> {stages: [...]}.
  Pipelines pipelines(const Reader::Item& section);
  // A project's `pipeline:` key, checked by check().
  std::string project_pipeline(const Reader::Item& item);
  // Once the whole file is read.
  void check(const Config& config) const;

 private:
  struct Use {
    Reader::Item at;
    std::string name;  // the role, or the project's pipeline
  };
  Reader& reader_;
  std::vector<Use> roles_;     // every stage's role
  std::vector<Use> projects_;  // every project's pipeline
};

}  // namespace agency::config
