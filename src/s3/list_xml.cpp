#include "s3/list_xml.hpp"

#include <charconv>
#include <ctime>
#include <functional>

#include <fmt/format.h>

#include "text_util.hpp"

namespace stagecheck::s3 {

namespace {

using detail::printable;

Error malformed(std::string_view what) {
  return make_error(Errc::malformed, fmt::format("unexpected S3 response: {}", what));
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

/// Walks the elements of a document, calling `on_end(path, text)` as each element closes, with
/// `path` the '/'-joined names from the root and `text` its decoded character data.
Result<void> walk(std::string_view xml,
                  const std::function<Result<void>(const std::string&, std::string&&)>& on_end) {
  std::vector<std::string> stack;
  std::string path;
  std::string text;
  bool seen_root = false;
  std::size_t i = 0;
  const std::size_t n = xml.size();
  if (xml.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // UTF-8 byte order mark
  while (i < n) {
    if (xml[i] != '<') {
      const std::size_t end = xml.find('<', i);
      const std::string_view raw = xml.substr(i, end == std::string_view::npos ? n - i : end - i);
      if (stack.empty()) {
        if (raw.find_first_not_of(" \t\r\n") != std::string_view::npos) {
          return malformed("text outside the root element");
        }
      } else {
        Result<std::string> decoded = decode_entities(raw);
        if (!decoded) return std::move(decoded).error();
        text += *decoded;
      }
      i = end == std::string_view::npos ? n : end;
      continue;
    }
    const std::string_view rest = xml.substr(i);
    if (rest.substr(0, 2) == "<?") {
      const std::size_t end = xml.find("?>", i);
      if (end == std::string_view::npos) return malformed("unterminated processing instruction");
      i = end + 2;
    } else if (rest.substr(0, 4) == "<!--") {
      const std::size_t end = xml.find("-->", i);
      if (end == std::string_view::npos) return malformed("unterminated comment");
      i = end + 3;
    } else if (rest.substr(0, 9) == "<![CDATA[") {
      const std::size_t end = xml.find("]]>", i);
      if (end == std::string_view::npos || stack.empty()) return malformed("bad CDATA section");
      text += xml.substr(i + 9, end - i - 9);
      i = end + 3;
    } else if (rest.substr(0, 2) == "<!") {
      return malformed("a DOCTYPE or declaration, which S3 never sends");
    } else if (rest.substr(0, 2) == "</") {
      const std::size_t end = xml.find('>', i);
      if (end == std::string_view::npos) return malformed("unterminated end tag");
      std::string_view name = xml.substr(i + 2, end - i - 2);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t' || name.back() == '\n' ||
                               name.back() == '\r')) {
        name.remove_suffix(1);
      }
      if (stack.empty() || stack.back() != name) {
        return malformed(fmt::format("end tag </{}> does not match <{}>", printable(name, 64),
                                     stack.empty() ? "" : printable(stack.back(), 64)));
      }
      if (Result<void> ok = on_end(path, std::move(text)); !ok) return ok;
      text.clear();
      path.resize(path.size() - stack.back().size() - (stack.size() > 1 ? 1 : 0));
      stack.pop_back();
      i = end + 1;
    } else {
      // A start tag: the name, then attributes (quoted values may hold '>' or '/').
      std::size_t j = i + 1;
      while (j < n && xml[j] != ' ' && xml[j] != '\t' && xml[j] != '\r' && xml[j] != '\n' &&
             xml[j] != '>' && xml[j] != '/') {
        ++j;
      }
      const std::string name(xml.substr(i + 1, j - i - 1));
      if (name.empty()) return malformed("an element without a name");
      char quote = 0;
      while (j < n && (quote != 0 || xml[j] != '>')) {
        if (quote != 0) {
          if (xml[j] == quote) quote = 0;
        } else if (xml[j] == '"' || xml[j] == '\'') {
          quote = xml[j];
        }
        ++j;
      }
      if (j >= n) return malformed("unterminated start tag");
      const bool self_closing = xml[j - 1] == '/';
      if (stack.empty() && seen_root) return malformed("more than one root element");
      seen_root = true;
      if (!stack.empty()) path += '/';
      path += name;
      stack.push_back(name);
      text.clear();
      if (self_closing) {
        if (Result<void> ok = on_end(path, std::string()); !ok) return ok;
        path.resize(path.size() - name.size() - (stack.size() > 1 ? 1 : 0));
        stack.pop_back();
      }
      i = j + 1;
    }
  }
  if (!stack.empty())
    return malformed(fmt::format("<{}> is never closed", printable(stack.back(), 64)));
  if (!seen_root) return malformed("no XML document");
  return {};
}

Result<std::uint64_t> parse_size(const std::string& text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return malformed(fmt::format("Size '{}' is not a whole number", printable(text, 64)));
  }
  return value;
}

}  // namespace

Result<std::string> decode_entities(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t amp = text.find('&', i);
    if (amp == std::string_view::npos) {
      out += text.substr(i);
      break;
    }
    out += text.substr(i, amp - i);
    const std::size_t semi = text.find(';', amp);
    if (semi == std::string_view::npos || semi - amp > 12) {
      return malformed("an '&' that starts no entity");
    }
    const std::string_view entity = text.substr(amp + 1, semi - amp - 1);
    if (entity == "amp") {
      out += '&';
    } else if (entity == "lt") {
      out += '<';
    } else if (entity == "gt") {
      out += '>';
    } else if (entity == "quot") {
      out += '"';
    } else if (entity == "apos") {
      out += '\'';
    } else if (entity.size() >= 2 && entity[0] == '#') {
      const bool hex = entity[1] == 'x';
      const std::string_view digits = entity.substr(hex ? 2 : 1);
      std::uint32_t cp = 0;
      const auto [ptr, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || cp == 0 ||
          cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return malformed(fmt::format("invalid character reference '&{};'", printable(entity)));
      }
      append_utf8(out, cp);
    } else {
      return malformed(fmt::format("unknown entity '&{};'", printable(entity)));
    }
    i = semi + 1;
  }
  return out;
}

std::int64_t parse_iso8601_ns(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff]Z
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text.back() != 'Z') {
    return -1;
  }
  auto number = [&](std::size_t pos, std::size_t len, int& out) {
    const auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + pos + len, out);
    return ec == std::errc() && ptr == text.data() + pos + len;
  };
  std::tm tm{};
  int year = 0, month = 0;
  if (!number(0, 4, year) || !number(5, 2, month) || !number(8, 2, tm.tm_mday) ||
      !number(11, 2, tm.tm_hour) || !number(14, 2, tm.tm_min) || !number(17, 2, tm.tm_sec)) {
    return -1;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  std::int64_t ns = 0;
  const std::string_view fraction = text.substr(19, text.size() - 20);
  if (!fraction.empty()) {
    if (fraction[0] != '.' || fraction.size() > 10) return -1;
    std::int64_t scale = 100'000'000;
    for (const char c : fraction.substr(1)) {
      if (c < '0' || c > '9') return -1;
      ns += (c - '0') * scale;
      scale /= 10;
    }
  }
  const std::time_t seconds = ::timegm(&tm);
  if (seconds == static_cast<std::time_t>(-1)) return -1;
  return static_cast<std::int64_t>(seconds) * 1'000'000'000 + ns;
}

Result<ListPage> parse_list_page(std::string_view xml) {
  ListPage page;
  ListedObject current;
  bool has_key = false, has_size = false, truncated_seen = false;
  Result<void> walked = walk(xml, [&](const std::string& path, std::string&& text) -> Result<void> {
    if (path.find('/') == std::string::npos && path != "ListBucketResult") {
      return malformed(fmt::format("expected a ListBucketResult, found <{}>", printable(path, 64)));
    }
    if (path == "ListBucketResult/Contents/Key") {
      current.key = std::move(text);
      has_key = true;
    } else if (path == "ListBucketResult/Contents/Size") {
      Result<std::uint64_t> size = parse_size(text);
      if (!size) return std::move(size).error();
      current.size = *size;
      has_size = true;
    } else if (path == "ListBucketResult/Contents/LastModified") {
      current.mtime_ns = std::max<std::int64_t>(0, parse_iso8601_ns(text));
    } else if (path == "ListBucketResult/Contents") {
      if (!has_key || !has_size) return malformed("a Contents entry without Key or Size");
      page.objects.push_back(std::move(current));
      current = ListedObject{};
      has_key = has_size = false;
    } else if (path == "ListBucketResult/CommonPrefixes/Prefix") {
      page.common_prefixes.push_back(std::move(text));
    } else if (path == "ListBucketResult/IsTruncated") {
      if (text != "true" && text != "false") {
        return malformed(fmt::format("IsTruncated is '{}'", printable(text, 64)));
      }
      page.truncated = text == "true";
      truncated_seen = true;
    } else if (path == "ListBucketResult/NextContinuationToken") {
      page.next_token = std::move(text);
    }
    return {};
  });
  if (!walked) return std::move(walked).error();
  if (!truncated_seen) return malformed("a ListBucketResult without IsTruncated");
  if (page.truncated && page.next_token.empty()) {
    return malformed("a truncated listing without NextContinuationToken");
  }
  return page;
}

ErrorDocument parse_error_document(std::string_view xml) {
  ErrorDocument doc;
  ErrorDocument found;
  Result<void> walked = walk(xml, [&](const std::string& path, std::string&& text) -> Result<void> {
    if (path == "Error/Code") found.code = std::move(text);
    if (path == "Error/Message") found.message = std::move(text);
    return {};
  });
  if (walked) doc = std::move(found);
  return doc;
}

}  // namespace stagecheck::s3
