import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findTestFiles, globToRegExp } from "../slave/zeus/test-files.js";
import { makeApp } from "./helpers/app.js";

describe("a plan's test files", () => {
  const app = makeApp({
    "test/models/widget_test.rb": "",
    "test/test_helper.rb": "",
    "spec/widget_spec.rb": "",
    "tests/test_a.py": "",
    "tests/unit/test_b.py": "",
    "test_root.py": "",
    "node_modules/pkg/test/x_test.rb": "",
    ".git/test/y_test.rb": "",
  });

  it("takes the first default glob that matches anything, and skips dependencies and dot directories", () => {
    assert.deepEqual(findTestFiles(app, [], null), ["test/models/widget_test.rb"]);
  });

  it("takes zeus.json's test_files over the defaults, and the files or globs given over both", () => {
    assert.deepEqual(findTestFiles(app, [], ["**/test_*.py"]), [
      "test_root.py",
      "tests/test_a.py",
      "tests/unit/test_b.py",
    ]);
    assert.deepEqual(findTestFiles(app, ["tests/*.py", "./spec/widget_spec.rb"], ["**/*"]), [
      "spec/widget_spec.rb",
      "tests/test_a.py",
    ]);
    assert.deepEqual(findTestFiles(app, ["no/such/file.py"], null), []);
  });

  it("reads ** as any depth, none included, and * and ? within one directory", () => {
    const glob = globToRegExp("tests/**/test_?.py");
    assert.ok(glob.test("tests/test_a.py"));
    assert.ok(glob.test("tests/unit/deep/test_b.py"));
    assert.ok(!glob.test("tests/test_ab.py"));
    assert.ok(!globToRegExp("tests/*.py").test("tests/unit/test_b.py"));
    assert.ok(globToRegExp("a+b(c).py").test("a+b(c).py"), "other characters stand for themselves");
  });
});
