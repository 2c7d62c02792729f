# The warning set from STYLE.md. -Werror is behind SG_WERROR (on in the dev
# preset and in CI).
set(SG_WARNINGS
  -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes
  -Wmissing-prototypes -Wold-style-definition -Wpointer-arith -Wcast-qual
  -Wwrite-strings -Wvla -Wundef -Wnull-dereference -Wimplicit-fallthrough
  -Wdouble-promotion -fno-common
  -Werror=implicit-function-declaration -Werror=incompatible-pointer-types)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  list(APPEND SG_WARNINGS -Wlogical-op -Wduplicated-cond -Wduplicated-branches)
elseif(CMAKE_C_COMPILER_ID MATCHES "Clang")
  list(APPEND SG_WARNINGS -Wcomma -Wshorten-64-to-32)
endif()
add_compile_definitions(_POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)

function(sg_apply_warnings target)
  target_compile_options(${target} PRIVATE ${SG_WARNINGS})
  if(SG_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# sg_library(NAME DEPS...): a static library of every .c under this folder
# (recursively), so adding a file to a folder needs no CMake edit.
function(sg_library name)
  file(GLOB_RECURSE src CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  if(NOT src AND NOT SG_EXTRA_SOURCES)
    # A folder with no sources yet still yields a (empty) library.
    set(empty ${CMAKE_CURRENT_BINARY_DIR}/${name}_empty.c)
    file(WRITE ${empty} "typedef int sg_empty_unit;\n")
    set(src ${empty})
  endif()
  add_library(${name} STATIC ${src} ${SG_EXTRA_SOURCES})
  target_link_libraries(${name} PUBLIC ${ARGN})
  sg_apply_warnings(${name})
endfunction()
