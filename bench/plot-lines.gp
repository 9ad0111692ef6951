# bench/plot-lines.gp — one chart of several data files, as SVG and PNG.
# Called by bench/plot.sh; every parameter comes with -e:
#   out    output path without extension (OUT.svg and OUT.png are written)
#   heading, xlab, ylab   chart title and axis labels
#   files  data files, space separated; titles  their legends, "quoted words"
#   cols   the using spec (default "1:2"); style  lines or linespoints
#   logx, logy  1 for a log scale; xmax  upper x bound (optional)
if (!exists("cols")) cols = "1:2"
if (!exists("style")) style = "linespoints"
if (!exists("logx")) logx = 0
if (!exists("logy")) logy = 0
set title heading noenhanced
set xlabel xlab noenhanced
set ylabel ylab noenhanced
set grid
set key bottom right noenhanced
if (logx) set logscale x 2
if (logy) set logscale y
if (exists("xmax")) set xrange [:xmax]
n = words(files)
do for [t in "svg png"] {
  if (t eq "svg") { set terminal svg size 760,460 dynamic font "sans,12" } else { set terminal pngcairo size 950,575 font "sans,11" }
  set output out.".".t
  plot for [i=1:n] word(files, i) using @cols with @style lw 2 title word(titles, i)
  unset output
}
