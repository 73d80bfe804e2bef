#include "agents/runtime.hpp"
#include "roles/synthesizer/synthesizer.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Synthesizer>(argc, argv); }
