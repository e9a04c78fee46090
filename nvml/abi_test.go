// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Go mirrors of NVML's structs (structs.go) and the fake library's
// header (testdata/fakenvml/fakenvml.h) are both written by hand; a field
// swapped the same way in both would pass every other test. These tests
// compile a C program against NVIDIA's nvml.h — the one in the
// github.com/NVIDIA/go-nvml module, a test-only requirement (abi_deps_test.go)
// — and against the fake's header, print sizeof and offsetof of every
// mirrored struct and member and the values of the mirrored constants, and
// compare them with the Go layout (reflect's Offset and Size are
// unsafe.Offsetof and unsafe.Sizeof).

// abiStruct pairs a Go mirror with its C type; fields maps each named Go field
// to its C member designator (nested members as "metricInfo.shortName").
// Blank padding fields have no entry: the offsets around them check them.
type abiStruct struct {
	goType reflect.Type
	cType  string
	fields [][2]string // {Go field, C member}
}

// abiMirrors is every struct in this package that mirrors an NVML one;
// TestEveryMirrorIsChecked keeps it complete.
func abiMirrors() []abiStruct {
	return []abiStruct{
		{reflect.TypeFor[Utilization](), "nvmlUtilization_t", [][2]string{{"GPU", "gpu"}, {"Memory", "memory"}}},
		{reflect.TypeFor[memoryV2](), "nvmlMemory_v2_t", [][2]string{{"version", "version"}, {"total", "total"},
			{"reserved", "reserved"}, {"free", "free"}, {"used", "used"}}},
		{reflect.TypeFor[memoryV1](), "nvmlMemory_t", [][2]string{{"total", "total"}, {"free", "free"}, {"used", "used"}}},
		{reflect.TypeFor[temperatureV1](), "nvmlTemperature_v1_t", [][2]string{{"version", "version"},
			{"sensorType", "sensorType"}, {"temperature", "temperature"}}},
		{reflect.TypeFor[ProcessInfo](), "nvmlProcessInfo_t", [][2]string{{"PID", "pid"}, {"UsedGPUMemory", "usedGpuMemory"},
			{"GPUInstanceID", "gpuInstanceId"}, {"ComputeInstanceID", "computeInstanceId"}}},
		{reflect.TypeFor[processInfoV1](), "nvmlProcessInfo_v1_t", [][2]string{{"pid", "pid"}, {"usedGPUMemory", "usedGpuMemory"}}},
		{reflect.TypeFor[temperatureV1](), "nvmlTemperature_v1_t", [][2]string{{"version", "version"},
			{"sensorType", "sensorType"}, {"temperature", "temperature"}}},
		{reflect.TypeFor[pciInfo](), "nvmlPciInfo_t", [][2]string{{"busIDLegacy", "busIdLegacy"}, {"domain", "domain"},
			{"bus", "bus"}, {"device", "device"}, {"pciDeviceID", "pciDeviceId"}, {"pciSubSystemID", "pciSubSystemId"},
			{"busID", "busId"}}},
		{reflect.TypeFor[gpmSupport](), "nvmlGpmSupport_t", [][2]string{{"version", "version"}, {"isSupported", "isSupportedDevice"}}},
		{reflect.TypeFor[gpmMetric](), "nvmlGpmMetric_t", [][2]string{{"metricID", "metricId"}, {"ret", "nvmlReturn"},
			{"value", "value"}, {"shortName", "metricInfo.shortName"}, {"longName", "metricInfo.longName"},
			{"unit", "metricInfo.unit"}}},
		{reflect.TypeFor[gpmMetricsGet](), "nvmlGpmMetricsGet_t", [][2]string{{"version", "version"},
			{"numMetrics", "numMetrics"}, {"sample1", "sample1"}, {"sample2", "sample2"}, {"metrics", "metrics"}}},
	}
}

// abiConst is a mirrored constant: its value in Go and its C expression in
// nvml.h and in the fake's header ("" where that header does not define it).
type abiConst struct {
	goValue     uint64
	nvmlH, fake string
}

func abiConsts() []abiConst {
	c := []abiConst{
		{uint64(memoryV2Version), "nvmlMemory_v2", "NVML_MEMORY_V2"},
		{uint64(temperatureV1Version), "nvmlTemperature_v1", "NVML_TEMPERATURE_V1"},
		{gpmSupportVersion, "NVML_GPM_SUPPORT_VERSION", "NVML_GPM_SUPPORT_VERSION"},
		{gpmMetricsGetVersion, "NVML_GPM_METRICS_GET_VERSION", "NVML_GPM_METRICS_GET_VERSION"},
		{gpmMetricMax, "NVML_GPM_METRIC_MAX", "FAKE_GPM_METRIC_MAX"},
		{ValueNotAvailable, "NVML_VALUE_NOT_AVAILABLE", ""},
		{systemVersionBufferSize, "NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE", ""},
		{deviceNameBufferSize, "NVML_DEVICE_NAME_V2_BUFFER_SIZE", ""},
		{deviceUUIDBufferSize, "NVML_DEVICE_UUID_V2_BUFFER_SIZE", ""},
		{uint64(InitFlagNoGPUs), "NVML_INIT_FLAG_NO_GPUS", ""},
		{uint64(InitFlagNoAttach), "NVML_INIT_FLAG_NO_ATTACH", ""},
	}
	for id, name := range map[GPMMetricID]string{GPMGraphicsActivity: "GRAPHICS_UTIL", GPMSMActivity: "SM_UTIL",
		GPMSMOccupancy: "SM_OCCUPANCY", GPMIntegerActivity: "INTEGER_UTIL", GPMTensorActivity: "ANY_TENSOR_UTIL",
		GPMDFMATensor: "DFMA_TENSOR_UTIL", GPMHMMATensor: "HMMA_TENSOR_UTIL", GPMIMMATensor: "IMMA_TENSOR_UTIL",
		GPMDRAMBandwidth: "DRAM_BW_UTIL", GPMFP64Activity: "FP64_UTIL", GPMFP32Activity: "FP32_UTIL",
		GPMFP16Activity: "FP16_UTIL"} {
		c = append(c, abiConst{uint64(id), "NVML_GPM_METRIC_" + name, ""})
	}
	for a := ArchKepler; a <= ArchBlackwell; a++ {
		c = append(c, abiConst{uint64(a), "NVML_DEVICE_ARCH_" + strings.ToUpper(a.String()), ""})
	}
	for _, r := range Returns() {
		c = append(c, abiConst{uint64(uint32(r)), r.Name(), ""})
	}
	return c
}

// goLayout is what Go says: "size T", "offset T.m", "size T.m" and "const X".
// A Go field named in a row that the type lacks, or a named Go field that no
// row maps, is a problem.
func goLayout(mirrors []abiStruct, consts []abiConst, fake bool) (map[string]uint64, []string) {
	out := map[string]uint64{}
	var problems []string
	for _, m := range mirrors {
		out["size "+m.cType] = uint64(m.goType.Size())
		mapped := map[string]bool{}
		for _, f := range m.fields {
			sf, ok := m.goType.FieldByName(f[0])
			if !ok {
				problems = append(problems, fmt.Sprintf("%s has no field %s", m.goType, f[0]))
				continue
			}
			mapped[f[0]] = true
			out["offset "+m.cType+"."+f[1]] = uint64(sf.Offset)
			out["size "+m.cType+"."+f[1]] = uint64(sf.Type.Size())
		}
		for i := range m.goType.NumField() {
			if name := m.goType.Field(i).Name; name != "_" && !mapped[name] {
				problems = append(problems, fmt.Sprintf("%s.%s is mapped to no C member", m.goType, name))
			}
		}
	}
	for _, c := range consts {
		if name := cName(c, fake); name != "" {
			out["const "+name] = c.goValue
		}
	}
	return out, problems
}

func cName(c abiConst, fake bool) string {
	if fake {
		return c.fake
	}
	return c.nvmlH
}

// cLayoutProgram is a C program that prints, for the header it includes,
// the same keys goLayout computes.
func cLayoutProgram(include string, mirrors []abiStruct, consts []abiConst, fake bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#include <stddef.h>\n#include <stdio.h>\n#include %s\n\nint main(void) {\n", include)
	for _, m := range mirrors {
		fmt.Fprintf(&b, "\tprintf(\"size %[1]s %%zu\\n\", sizeof(%[1]s));\n", m.cType)
		for _, f := range m.fields {
			fmt.Fprintf(&b, "\tprintf(\"offset %[1]s.%[2]s %%zu\\n\", offsetof(%[1]s, %[2]s));\n", m.cType, f[1])
			fmt.Fprintf(&b, "\tprintf(\"size %[1]s.%[2]s %%zu\\n\", sizeof(((%[1]s *)0)->%[2]s));\n", m.cType, f[1])
		}
	}
	for _, c := range consts {
		if name := cName(c, fake); name != "" {
			fmt.Fprintf(&b, "\tprintf(\"const %[1]s %%llu\\n\", (unsigned long long)(%[1]s));\n", name)
		}
	}
	b.WriteString("\treturn 0;\n}\n")
	return b.String()
}

// layoutDiff lists every key on which C and Go disagree, sorted.
func layoutDiff(c, goSide map[string]uint64) []string {
	var diff []string
	for k, cv := range c {
		if gv, ok := goSide[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s: C %d, Go has none", k, cv))
		} else if gv != cv {
			diff = append(diff, fmt.Sprintf("%s: C %d, Go %d", k, cv, gv))
		}
	}
	for k, gv := range goSide {
		if _, ok := c[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s: Go %d, C printed none", k, gv))
		}
	}
	slices.Sort(diff)
	return diff
}

// cLayout compiles src with the include directory inc and returns what it
// prints.
func cLayout(t *testing.T, src, inc string) map[string]uint64 {
	t.Helper()
	cc := compiler(t)
	dir := t.TempDir()
	prog := filepath.Join(dir, "layout")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "layout.c"), []byte(src), 0o600))
	argv := strings.Fields(cc)
	argv = append(argv, "-std=gnu11", "-Wall", "-Werror", "-I", inc, "-o", prog, filepath.Join(dir, "layout.c"))
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	require.NoError(t, err, "compile the layout program against %s:\n%s", inc, out)
	out, err = exec.Command(prog).Output()
	require.NoError(t, err)
	got := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		i := strings.LastIndexByte(sc.Text(), ' ')
		require.Positive(t, i, sc.Text())
		v, err := strconv.ParseUint(sc.Text()[i+1:], 10, 64)
		require.NoError(t, err, sc.Text())
		got[sc.Text()[:i]] = v
	}
	return got
}

// compiler returns $CC (else cc). Without one the test skips, or fails when
// $CI is set: CI must check the ABI.
func compiler(t *testing.T) string {
	t.Helper()
	cc := os.Getenv("CC")
	if strings.TrimSpace(cc) == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(strings.Fields(cc)[0]); err != nil {
		unavailable(t, fmt.Sprintf("no C compiler %q (set $CC): %v", cc, err))
	}
	return cc
}

func unavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// nvmlHeaderDir is the directory of nvml.h in the go-nvml module go.mod
// requires, downloading the module into the module cache if needed.
func nvmlHeaderDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/NVIDIA/go-nvml").Output()
	var mod struct {
		Dir   string `json:"Dir"`
		Error string `json:"Error"`
	}
	if err == nil {
		err = json.Unmarshal(out, &mod)
	}
	if err == nil && mod.Dir == "" {
		err = errors.New(mod.Error)
	}
	if err != nil {
		unavailable(t, fmt.Sprintf("locate NVIDIA's nvml.h (go mod download github.com/NVIDIA/go-nvml): %v", err))
	}
	dir := filepath.Join(mod.Dir, "pkg", "nvml")
	_, err = os.Stat(filepath.Join(dir, "nvml.h"))
	require.NoError(t, err, "go-nvml moved nvml.h")
	return dir
}

func TestABIMatchesNVMLHeader(t *testing.T) {
	t.Parallel()
	inc := nvmlHeaderDir(t)
	mirrors, consts := abiMirrors(), abiConsts()
	goSide, problems := goLayout(mirrors, consts, false)
	require.Empty(t, problems)
	c := cLayout(t, cLayoutProgram("<nvml.h>", mirrors, consts, false), inc)
	assert.Empty(t, layoutDiff(c, goSide), "the Go mirrors disagree with %s", filepath.Join(inc, "nvml.h"))
}

func TestABIMatchesFakeHeader(t *testing.T) {
	t.Parallel()
	mirrors, consts := abiMirrors(), abiConsts()
	goSide, problems := goLayout(mirrors, consts, true)
	require.Empty(t, problems)
	inc := filepath.Join("..", "testdata", "fakenvml")
	c := cLayout(t, cLayoutProgram(`"fakenvml.h"`, mirrors, consts, true), inc)
	assert.Empty(t, layoutDiff(c, goSide), "the Go mirrors disagree with testdata/fakenvml/fakenvml.h")
}

// nvmlReturnEnum matches one enumerator of nvmlReturn_t.
var nvmlReturnEnum = regexp.MustCompile(`(?m)^\s*(NVML_(?:SUCCESS|ERROR_\w+))\s*=\s*(\d+)\s*,?`)

// The return-code table holds exactly nvml.h's nvmlReturn_t, and the codes the
// fake's header defines agree with it. The layout programs check the values of
// the table's names; this checks that nvml.h has no code the table lacks.
func TestReturnCodesMatchNVMLHeader(t *testing.T) {
	t.Parallel()
	header, err := os.ReadFile(filepath.Join(nvmlHeaderDir(t), "nvml.h"))
	require.NoError(t, err)
	fake, err := os.ReadFile(filepath.Join("..", "testdata", "fakenvml", "fakenvml.h"))
	require.NoError(t, err)
	table := map[string]int{}
	for _, r := range Returns() {
		table[r.Name()] = int(r)
	}
	for file, src := range map[string][]byte{"nvml.h": header, "fakenvml.h": fake} {
		found := nvmlReturnEnum.FindAllSubmatch(src, -1)
		require.NotEmpty(t, found, file)
		defined := map[string]int{}
		for _, m := range found {
			v, err := strconv.Atoi(string(m[2]))
			require.NoError(t, err)
			defined[string(m[1])] = v
			want, ok := table[string(m[1])]
			assert.True(t, ok, "%s defines %s = %d, which the return-code table lacks", file, m[1], v)
			assert.Equal(t, want, v, "%s: %s", file, m[1])
		}
		if file == "nvml.h" {
			assert.Len(t, defined, len(table), "the return-code table has codes nvml.h does not define")
		}
	}
}

// brokenProcessInfo is ProcessInfo with pid and usedGpuMemory swapped: the
// same size, so only an offset comparison catches it.
type brokenProcessInfo struct {
	UsedGPUMemory     uint64
	PID               uint32
	_                 uint32
	GPUInstanceID     uint32
	ComputeInstanceID uint32
}

// The comparison fails when a mirrored offset is wrong, on either side: a Go
// mirror with two fields swapped, and a C header with two members swapped.
func TestABICheckCatchesSwappedFields(t *testing.T) {
	t.Parallel()
	t.Run("go mirror", func(t *testing.T) {
		t.Parallel()
		m := []abiStruct{{reflect.TypeFor[brokenProcessInfo](), "nvmlProcessInfo_t", [][2]string{{"PID", "pid"},
			{"UsedGPUMemory", "usedGpuMemory"}, {"GPUInstanceID", "gpuInstanceId"}, {"ComputeInstanceID", "computeInstanceId"}}}}
		goSide, problems := goLayout(m, nil, false)
		require.Empty(t, problems)
		c := cLayout(t, cLayoutProgram("<nvml.h>", m, nil, false), nvmlHeaderDir(t))
		assert.Equal(t, []string{
			"offset nvmlProcessInfo_t.pid: C 0, Go 8",
			"offset nvmlProcessInfo_t.usedGpuMemory: C 8, Go 0",
		}, layoutDiff(c, goSide))
	})
	t.Run("c header", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "swapped.h"),
			[]byte("typedef struct { unsigned int memory; unsigned int gpu; } nvmlUtilization_t;\n"), 0o600))
		m := abiMirrors()[:1]
		require.Equal(t, "nvmlUtilization_t", m[0].cType)
		goSide, problems := goLayout(m, nil, false)
		require.Empty(t, problems)
		c := cLayout(t, cLayoutProgram(`"swapped.h"`, m, nil, false), dir)
		assert.Equal(t, []string{
			"offset nvmlUtilization_t.gpu: C 4, Go 0",
			"offset nvmlUtilization_t.memory: C 0, Go 4",
		}, layoutDiff(c, goSide))
	})
	t.Run("unmapped field", func(t *testing.T) {
		t.Parallel()
		m := []abiStruct{{reflect.TypeFor[Utilization](), "nvmlUtilization_t", [][2]string{{"GPU", "gpu"}, {"Decoder", "decoder"}}}}
		_, problems := goLayout(m, nil, false)
		assert.Equal(t, []string{"nvml.Utilization has no field Decoder", "nvml.Utilization.Memory is mapped to no C member"}, problems)
	})
}

// mirrorComment finds "// X mirrors nvmlY", the way structs.go introduces
// each mirror.
var mirrorComment = regexp.MustCompile(`(?m)^// (\w+) mirrors (nvml\w+)`)

// Every type whose doc comment says it mirrors an NVML struct is in
// abiMirrors, so a new mirror cannot skip the layout check.
func TestEveryMirrorIsChecked(t *testing.T) {
	t.Parallel()
	checked := map[string]string{}
	for _, m := range abiMirrors() {
		checked[m.goType.Name()] = m.cType
	}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range mirrorComment.FindAllStringSubmatch(string(src), -1) {
			n++
			assert.Equal(t, m[2], checked[m[1]], "%s: %s mirrors %s: add it to abiMirrors", f, m[1], m[2])
		}
	}
	assert.Equal(t, len(checked), n, "abiMirrors lists a type whose comment does not say what it mirrors")
}
