// A fresh directory under /tmp for one test, removed with everything in it at scope end.
//
// Thread-safety: none. Ownership: owns the directory.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <string>

namespace teredo::controller {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/teredo-ctl-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)std::system(("rm -rf '" + path_ + "'").c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace teredo::controller
