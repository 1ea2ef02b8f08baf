#!/usr/bin/perl
# No circle in src/: neither in the includes between its headers and files
# (a module is a .c/.h pair by basename) nor in the calls between its
# object files (module A uses a symbol module B defines).  Prints each
# circle and exits 1 if there is one.  Run from the top of the tree after a
# build: perl test/tools/cycles.pl
use strict;
use warnings;

my (%inc, %call);
for my $f (glob('src/*.c src/*.h'))
{
	(my $m = $f) =~ s{^src/(.*)\.[ch]$}{$1};
	open(my $fh, '<', $f) or die "$f: $!";
	while (<$fh>)
	{
		$inc{$m}{$1} = 1 if /^#include "([a-z_]+)\.h"/ && $1 ne $m && -e "src/$1.h";
	}
}
my (%defs, %uses);
for my $o (glob('src/*.o'))
{
	(my $m = $o) =~ s{^src/(.*)\.o$}{$1};
	for (`nm $o`)
	{
		my @p = split;
		if (@p == 3 && $p[1] =~ /^[TDBR]$/) { $defs{$p[2]} = $m }
		elsif (@p == 2 && $p[0] eq 'U') { $uses{$m}{$p[1]} = 1 }
	}
}
for my $m (keys %uses)
{
	for my $s (keys %{ $uses{$m} })
	{
		$call{$m}{ $defs{$s} } = 1 if defined $defs{$s} && $defs{$s} ne $m;
	}
}
die "no object files: build first\n" unless %defs;

# Tarjan's strongly connected components; a component of two or more is a circle.
sub circles
{
	my ($g) = @_;
	my (%index, %low, %on, @stack, @out);
	my $n = 0;
	my $visit;
	$visit = sub {
		my ($v) = @_;
		$index{$v} = $low{$v} = $n++;
		push @stack, $v;
		$on{$v} = 1;
		for my $w (sort keys %{ $g->{$v} || {} })
		{
			if (!defined $index{$w}) { $visit->($w); $low{$v} = $low{$w} if $low{$w} < $low{$v} }
			elsif ($on{$w}) { $low{$v} = $index{$w} if $index{$w} < $low{$v} }
		}
		if ($low{$v} == $index{$v})
		{
			my @c;
			while (1) { my $w = pop @stack; delete $on{$w}; push @c, $w; last if $w eq $v }
			push @out, [ sort @c ] if @c > 1;
		}
	};
	$visit->($_) for grep { !defined $index{$_} } sort keys %$g;
	return @out;
}

my $bad = 0;
for ([ 'include', \%inc ], [ 'call', \%call ])
{
	my ($what, $g) = @$_;
	for my $c (circles($g))
	{
		print "$what circle: @$c\n";
		$bad = 1;
	}
}
print "no include or call circle in src/\n" unless $bad;
exit $bad;
