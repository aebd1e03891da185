// Writes N realistic quality certificates in the scene pipeline's bucket layout:
//
//   <root>/scenes/<scene>/episodes/quality/episodes/episode_NNNNNN/quality_certificate.json
//
// Each is 600-900 bytes of JSON with the fields the pipeline writes (identity,
// environment, classification, a few metric groups, scores, validation lists, integrity). Every
// certificate passes the fallback rules (validation_passed true, production_training or
// fine_tuning), so every tool benchmarked does all of its work. Deterministic for a given N.
//
//   generate_certificates ROOT COUNT [SCENE]

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

namespace {

/// Creates every folder of `path` (like mkdir -p).
bool make_folders(const std::string& path) {
  for (std::size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string part = path.substr(0, slash);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return ::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST;
}

bool write_file(const std::string& path, const std::string& body) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < body.size()) {
    const ssize_t n = ::write(fd, body.data() + done, body.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return ::close(fd) == 0;
}

std::string fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

/// One certificate, formatted as Python's json.dump() writes it (one line).
std::string certificate(int index, const std::string& scene, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const char* tasks[] = {"pick_mug", "place_mug_in_sink", "open_drawer", "wipe_counter"};
  const double score = 0.80 + 0.19 * unit(rng);
  const bool production = score >= 0.90;
  char episode[32];
  std::snprintf(episode, sizeof episode, "episode_%06d", index);
  char hash[65];
  for (int i = 0; i < 64; ++i) hash[i] = "0123456789abcdef"[rng() % 16];
  hash[64] = '\0';
  const int warnings = rng() % 4 == 0 ? 1 : 0;
  std::string w;
  for (int i = 0; i < warnings; ++i) {
    w += i == 0 ? "" : ", ";
    w += i == 0 ? "\"target visibility below 0.9 for 3 frames\"" : "\"minor jerk spike at t=4.2s\"";
  }
  w = "[" + w + "]";
  std::string out;
  out.reserve(1024);
  out += "{\"episode_id\": \"";
  out += episode;
  out += "\", \"scene_id\": \"" + scene + "\", \"task_id\": \"";
  out += tasks[index % 4];
  out +=
      "\", \"generated_at\": \"2025-03-02T09:58:01Z\", \"pipeline_version\": \"1.0.0\", "
      "\"sensor_source\": \"isaac_sim_replicator\", \"physics_backend\": \"physx\", "
      "\"data_quality_level\": \"production\", \"training_suitability\": \"production\", "
      "\"recommended_use\": \"";
  out += production ? "production_training" : "fine_tuning";
  out += "\", \"trajectory_metrics\": {\"smoothness_score\": " + fixed(unit(rng), 4) +
         ", \"mean_jerk\": " + fixed(unit(rng) * 0.05, 5) +
         ", \"collision_count\": " + std::to_string(rng() % 2) +
         "}, \"task_metrics\": {\"goal_achievement_score\": " + fixed(0.9 + 0.1 * unit(rng), 3) +
         "}, \"overall_quality_score\": " + fixed(score, 4) +
         ", \"confidence_score\": 1.0, \"validation_passed\": true, \"validation_warnings\": " + w +
         ", \"validation_errors\": [], \"provenance_metrics\": null, \"frame_count\": " +
         std::to_string(200 + rng() % 200) +
         ", \"camera_count\": 3, "
         "\"ee_coverage_ratio\": 1.0, \"data_hash\": \"";
  out += hash;
  out += "\"}";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ROOT COUNT [SCENE]\n", argv[0]);
    return 2;
  }
  const std::string root = argv[1];
  const int count = std::atoi(argv[2]);
  const std::string scene = argc > 3 ? argv[3] : "kitchen_001";
  const std::string folder = root + "/scenes/" + scene + "/episodes/quality/episodes";
  if (count < 0 || !make_folders(folder)) {
    std::fprintf(stderr, "cannot create %s: %s\n", folder.c_str(), std::strerror(errno));
    return 1;
  }
  std::uint64_t bytes = 0;
  for (int i = 1; i <= count; ++i) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ull);
    char name[32];
    std::snprintf(name, sizeof name, "/episode_%06d", i);
    const std::string dir = folder + name;
    const std::string body = certificate(i, scene, rng);
    if ((::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) ||
        !write_file(dir + "/quality_certificate.json", body)) {
      std::fprintf(stderr, "cannot write %s: %s\n", dir.c_str(), std::strerror(errno));
      return 1;
    }
    bytes += body.size();
  }
  std::printf("%d certificates, %llu bytes (%.0f bytes on average) under %s\n", count,
              static_cast<unsigned long long>(bytes), count > 0 ? double(bytes) / count : 0.0,
              folder.c_str());
  return 0;
}
