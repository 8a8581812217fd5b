#include "containers/names.hpp"

#include <cctype>

#include "util/util.hpp"

namespace berth::containers {

namespace {
const char* kLeft[] = {
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful",
    "blissful", "bold", "boring", "brave", "busy", "charming", "clever", "compassionate",
    "competent", "condescending", "confident", "cool", "cranky", "crazy", "dazzling", "determined",
    "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic",
    "exciting", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty", "funny",
    "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore", "heuristic", "hopeful",
    "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial", "keen",
    "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying", "naughty",
    "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic",
    "pensive", "practical", "priceless", "quirky", "quizzical", "recursing", "relaxed", "reverent",
    "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied",
    "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
    "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen"};
const char* kRight[] = {
    "albattani", "allen", "archimedes", "ardinghelli", "babbage", "banach", "bardeen", "bartik",
    "bassi", "bell", "benz", "bhabha", "bohr", "booth", "borg", "bose", "brahmagupta", "brown",
    "burnell", "cannon", "carson", "cerf", "chandrasekhar", "chaplygin", "curie", "darwin", "davinci",
    "dijkstra", "dirac", "driscoll", "easley", "einstein", "elion", "engelbart", "euclid", "euler",
    "faraday", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg", "goodall",
    "hamilton", "hawking", "heisenberg", "hermann", "hodgkin", "hopper", "hypatia", "jackson",
    "jang", "jennings", "jepsen", "johnson", "kalam", "kapitsa", "keller", "kepler", "khorana",
    "kilby", "knuth", "lalande", "lamarr", "lamport", "leakey", "leavitt", "lovelace", "lumiere",
    "mahavira", "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "merkle", "minsky",
    "mirzakhani", "montalcini", "moore", "morse", "napier", "nash", "neumann", "newton", "nobel",
    "noether", "northcutt", "noyce", "pare", "pascal", "pasteur", "perlman", "pike", "poincare",
    "ptolemy", "raman", "ramanujan", "ride", "ritchie", "rosalind", "sammet", "shannon", "shockley",
    "sinoussi", "stonebraker", "swanson", "tesla", "thompson", "torvalds", "turing", "varahamihira",
    "visvesvaraya", "volhard", "wescoff", "wilbur", "wiles", "williams", "wilson", "wing", "wozniak",
    "wright", "yalow", "yonath"};
}  // namespace

std::string generate_name(int attempt) {
  std::string r = util::random_hex(8);
  unsigned long long v = std::stoull(r, nullptr, 16);
  constexpr size_t nl = sizeof(kLeft) / sizeof(kLeft[0]);
  constexpr size_t nr = sizeof(kRight) / sizeof(kRight[0]);
  std::string name = std::string(kLeft[v % nl]) + "_" + kRight[(v / nl) % nr];
  if (attempt > 0) name += std::to_string((v / nl / nr) % 10);
  return name;
}

bool valid_name(const std::string& name) {
  if (name.size() < 2 || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

}  // namespace berth::containers
