// The benchmark plotter, in its own module so that its font dependency
// (golang.org/x/image) never enters the controller's go.mod.
module github.com/samplecrd/network-controller/hack/plot

go 1.26.0

require golang.org/x/image v0.44.0
