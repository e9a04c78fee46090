// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"debug/elf"
	"errors"
	"os"
	"slices"
	"testing"
)

// TestBuildExportsSymbols reads each build's dynamic symbol table: exactly
// the NVML functions of its variant are exported, nothing of the fake's own.
func TestBuildExportsSymbols(t *testing.T) {
	t.Parallel()
	for _, v := range []Variant{Modern, OldDriver, R535, PreR450} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			lib, err := Build(v)
			if err != nil {
				skipOrFatal(t, err)
			}
			f, err := elf.Open(lib)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			syms, err := f.DynamicSymbols()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range syms {
				bind := elf.ST_BIND(s.Info)
				if s.Section == elf.SHN_UNDEF || (bind != elf.STB_GLOBAL && bind != elf.STB_WEAK) {
					continue
				}
				if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
					t.Errorf("exported %s is not a function", s.Name)
				}
				got = append(got, s.Name)
			}
			want := Symbols(v)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("exported symbols:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestSymbols(t *testing.T) {
	t.Parallel()
	modern, old := Symbols(Modern), Symbols(OldDriver)
	r535, pre450 := Symbols(R535), Symbols(PreR450)
	if len(modern) != 47 || len(r535) != 45 || len(old) != 28 || len(pre450) != 23 {
		t.Errorf("Symbols: %d modern, %d r535, %d old, %d pre-r450; want 47, 45, 28 and 23",
			len(modern), len(r535), len(old), len(pre450))
	}
	if slices.Contains(r535, "nvmlDeviceGetRunningProcessDetailList") ||
		!slices.Contains(r535, "nvmlDeviceGetConfComputeMemSizeInfo") {
		t.Error("the R535 build must export nvmlDeviceGetConfComputeMemSizeInfo and not nvmlDeviceGetRunningProcessDetailList")
	}
	if slices.Contains(pre450, "nvmlDeviceGetMaxMigDeviceCount") {
		t.Error("the pre-R450 build exports nvmlDeviceGetMaxMigDeviceCount")
	}
	for _, name := range old {
		if !slices.Contains(modern, name) {
			t.Errorf("old-driver symbol %s missing from the modern build", name)
		}
	}
	for _, name := range []string{"nvmlInit_v2", "nvmlDeviceGetMemoryInfo_v2", "nvmlGpmMetricsGet",
		"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetPciInfo_v3"} {
		if slices.Contains(old, name) {
			t.Errorf("old-driver build exports %s", name)
		}
	}
}

func TestBuildWithoutCompiler(t *testing.T) {
	t.Parallel()
	_, err := Builder{CC: "no-such-cc-for-fakenvml", CacheDir: t.TempDir()}.Build(Modern)
	if !errors.Is(err, ErrNoCompiler) {
		t.Fatalf("Build with a missing compiler: %v, want ErrNoCompiler", err)
	}
}

func TestBuildUnknownVariant(t *testing.T) {
	t.Parallel()
	if _, err := Build(Variant(7)); err == nil {
		t.Error("Build(Variant(7)) succeeded")
	}
}

// TestBuildCaches builds into an empty cache, then again: the second build
// returns the same file without compiling.
func TestBuildCaches(t *testing.T) {
	t.Parallel()
	b := Builder{CacheDir: t.TempDir()}
	first, err := b.Build(OldDriver)
	if err != nil {
		skipOrFatal(t, err)
	}
	before, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.Build(OldDriver)
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(second)
	if err != nil {
		t.Fatal(err)
	}
	if first != second || !before.ModTime().Equal(after.ModTime()) {
		t.Errorf("second build %s (%v) differs from the first %s (%v)", second, after.ModTime(), first, before.ModTime())
	}
	modern, err := b.Build(Modern)
	if err != nil {
		t.Fatal(err)
	}
	if modern == first {
		t.Errorf("both variants cached at %s", modern)
	}
}
